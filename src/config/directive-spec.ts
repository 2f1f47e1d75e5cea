/**
 * What a directive is (its table entry) and what applying one occurrence sees: the types the
 * directive table (directives.ts) and the directives defined in their own modules share.
 */
import { isAbsolute, resolve as resolvePath } from 'node:path';
import type { Level, ParseState, PathValue } from './level.js';
import type { Where } from './types.js';

export type Context = 'main' | 'events' | 'mail' | 'server';

/** nginx's argument-count classes (NGX_CONF_NOARGS, TAKE1, TAKE2, TAKE12, FLAG, 1MORE, 2MORE). */
export type Arity = 'none' | 'take1' | 'take2' | 'take12' | 'flag' | '1more' | '2more';

/**
 * How a value reaches a server:
 * - `inherit`: the server's own value, else the mail block's, else the default;
 * - `replace`: a list; occurrences at one level add up, and a server that has any replaces the
 *   inherited list as a whole;
 * - `server`: only meaningful inside `server { }`, nothing is inherited;
 * - `main`: top level of the file only;
 * - `block`: a block directive.
 */
export type MergeRule = 'inherit' | 'replace' | 'server' | 'main' | 'block';

/**
 * How repeated occurrences at one level are stored:
 * `once` ("is duplicate" on the second), `last` (last one wins, like nginx's auth_http),
 * `append` (each occurrence adds items), `bitmask` (a set of keywords, added up; a repeated
 * keyword is a notice), `custom` (the directive's own `apply`), `none` (handled by the parser).
 */
export type StoreMode = 'once' | 'last' | 'append' | 'bitmask' | 'custom' | 'none';

export interface ApplyContext {
  spec: DirectiveSpec;
  /** Arguments after the directive name, already unquoted/unescaped. */
  args: string[];
  where: Where;
  level: Level;
  state: ParseState;
  /** Throws `reason in FILE:LINE`. */
  fail(reason: string): never;
  /** Throws nginx's `"name" directive <rv> in FILE:LINE` (e.g. `is duplicate`, `invalid value`). */
  failDirective(rv: string): never;
  /** Records a notice `text in FILE:LINE`. */
  notice(text: string): void;
  /** Records a warning `text in FILE:LINE`. */
  warn(text: string): void;
}

export interface DirectiveSpec {
  name: string;
  contexts: readonly Context[];
  arity: Arity;
  block?: boolean;
  /** Argument syntax for the documentation, e.g. `time`, `on | off`. */
  syntax: string;
  /** Default as nginx-syntax arguments; parsed with `parse` to get the default value. */
  default?: string;
  /** Documentation text for defaults that are not plain arguments. */
  defaultText?: string;
  store: StoreMode;
  /** The value of one occurrence (`once`/`last`/`custom`), or its items (`append`). */
  parse?: (ctx: ApplyContext) => unknown;
  /** Keywords of a `bitmask` directive in canonical order. */
  keywords?: readonly string[];
  /** For `custom` directives. */
  apply?: (ctx: ApplyContext) => void;
  merge: MergeRule;
  /** false: recognised (context and argument count are checked) but refused "not supported yet". */
  supported: boolean;
  description: string;
  /** Where Postern differs from nginx, for the documentation. */
  postern?: string;
}

/*
 * The value helpers every directive module uses (the table in directives.ts, the extensions,
 * the SNI directive): one rule each, so the modules cannot drift apart.
 */

/** The directive's first argument ('' when there is none). */
export const firstArg = (ctx: ApplyContext): string => ctx.args[0] ?? '';

/**
 * A file name as nginx resolves it (ngx_conf_full_name): absolute names and nginx's inline and
 * engine forms (`data:...`, `engine:...`, `store:...`) as written, others against the
 * configuration's directory.
 */
export function configPath(ctx: ApplyContext, written: string): string {
  return isAbsolute(written) || /^(data|engine|store):/.test(written) ? written : resolvePath(ctx.state.baseDir, written);
}

/**
 * `pid` and `error_log` names: nginx takes them from its prefix (`-p`), not from the
 * configuration's directory; without `-p` Postern has no compiled-in prefix and uses the directory.
 */
export function prefixPath(ctx: ApplyContext, written: string): string {
  return isAbsolute(written) ? written : resolvePath(ctx.state.prefix ?? ctx.state.baseDir, written);
}

/** The first argument as a file name. */
export const filePath = (ctx: ApplyContext): PathValue => {
  const written = firstArg(ctx);
  return { written, path: configPath(ctx, written) };
};
