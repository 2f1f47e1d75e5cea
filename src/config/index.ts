/**
 * Postern's configuration: nginx's `mail { }` syntax and semantics.
 *
 *   loadConfigFile(path)              read a file (a whole nginx.conf or a file with a mail block)
 *   parseConfigText(text, file, opts) the same from text; includes are read from disk
 *   ConfigError                       every error, worded like `nginx -t`, with file and line
 *   directives                        the directive table that drives parsing, merging and docs
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, describeErrno } from './errors.js';
import { ConfigParser } from './parser.js';
import type { MailConfig } from './types.js';

export { COMMAND_LINE, ConfigError, formatConfigError, formatWhere } from './errors.js';
export { authHttpWhere, directives, directiveByName, type DirectiveSpec, type Context, type Arity, type MergeRule } from './directives.js';
export { renderConfigurationReference } from './reference.js';
export { parseTime, parseSize, parseFlag, parseNumber } from './values.js';
export type * from './types.js';

export interface ParseOptions {
  /** Directory relative `include`, certificate and log paths are taken from (default: the file's). */
  baseDir?: string;
  /** `-g DIRECTIVES`: main-context directives read before the file; errors say `in command line`. */
  globals?: string;
  /** `-p PREFIX`: relative `pid` and `error_log` paths are taken from here (as nginx's prefix). */
  prefix?: string;
  /** Called with every file read, the main file and each include (`postern -T`). */
  onFileRead?: (file: string, text: string) => void;
}

/** Parses configuration text; `file` names it in errors. Throws ConfigError. */
export function parseConfigText(text: string, file: string, opts: ParseOptions = {}): MailConfig {
  const baseDir = resolve(opts.baseDir ?? dirname(resolve(file)));
  return new ConfigParser(baseDir, opts).parseMain(text, file);
}

/** Reads and parses a configuration file. Throws ConfigError. */
export function loadConfigFile(path: string, opts: Omit<ParseOptions, 'baseDir'> = {}): MailConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = `open() "${file}" failed (${describeErrno(error)})`;
    throw new ConfigError(reason, file, 0, reason);
  }
  return parseConfigText(text, file, opts);
}
