import { isAbsolute, resolve } from 'node:path';
import { loadConfigFile } from '../config/index.js';
import type { MailConfig } from '../config/types.js';
import type { MainOptions } from './main-options.js';

/** The file `-t`, `-s` and a run read: `-c FILE` (relative to `-p PREFIX` when given), else postern.conf. */
export function configPath(options: MainOptions, fallback = 'postern.conf'): string {
  return resolve(options.prefix ?? '.', options.config ?? fallback);
}

/**
 * Reads the configuration as nginx's command line asks: `-g` directives first (errors `in command
 * line`), `-p` for relative `pid` and `error_log` paths, and `-e` as the main error log when the
 * configuration sets none. `onFileRead` sees every file read, includes too (for `-T`).
 */
export function loadConfiguration(options: MainOptions, onFileRead?: (file: string, text: string) => void): MailConfig {
  const config = loadConfigFile(configPath(options), {
    ...(options.globals === undefined ? {} : { globals: options.globals }),
    ...(options.prefix === undefined ? {} : { prefix: resolve(options.prefix) }),
    ...(onFileRead === undefined ? {} : { onFileRead }),
  });
  if (options.errorLog !== undefined && config.errorLogs === undefined) {
    const target = options.errorLog === 'stderr' || isAbsolute(options.errorLog) ? options.errorLog : resolve(options.prefix ?? '.', options.errorLog);
    config.errorLogs = [{ target, level: 'info' }];
  }
  return config;
}
