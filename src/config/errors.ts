import type { Where } from './types.js';

/**
 * A configuration error, worded like `nginx -t`: the message ends with ` in FILE:LINE`.
 * `reason` is the message without the location.
 */
export class ConfigError extends Error {
  readonly file: string;
  readonly line: number;
  readonly reason: string;

  constructor(message: string, file: string, line: number, reason?: string) {
    super(message);
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
    this.reason = reason ?? message;
  }

  /** `reason in FILE:LINE`, nginx's `ngx_conf_log_error` shape. */
  static at(reason: string, where: Where): ConfigError {
    return new ConfigError(`${reason} in ${formatWhere(where)}`, where.file, where.line, reason);
  }
}

/** The "file" of `-g` directives: nginx says `in command line`, with no line. */
export const COMMAND_LINE = 'command line';

export const formatWhere = (where: Where): string => (where.file === COMMAND_LINE ? COMMAND_LINE : `${where.file}:${where.line}`);

/** One line for a terminal, like nginx's `nginx: [emerg] ...`. */
export function formatConfigError(error: unknown): string {
  if (error instanceof ConfigError) return `[emerg] ${error.message}`;
  return `[emerg] ${error instanceof Error ? error.message : String(error)}`;
}

/** The `(2: No such file or directory)` tail nginx appends to a failed system call. */
export function describeErrno(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const known: Record<string, string> = {
    ENOENT: '2: No such file or directory',
    EACCES: '13: Permission denied',
    ENOTDIR: '20: Not a directory',
    EISDIR: '21: Is a directory',
    ELOOP: '40: Too many levels of symbolic links',
    EMFILE: '24: Too many open files',
  };
  if (e?.code && known[e.code]) return known[e.code]!;
  const errno = typeof e?.errno === 'number' ? Math.abs(e.errno) : 0;
  return `${errno}: ${e?.code ?? (e instanceof Error ? e.message : String(error))}`;
}
