import { closeSync, openSync } from 'node:fs';
import { pino, type Logger as PinoLogger } from 'pino';
import type { ErrorLogConfig } from './config/types.js';
import { errnoText } from './process/errno.js';

export type Logger = PinoLogger;

/** nginx levels that pino lacks, mapped to the nearest pino level. */
const LEVELS: Record<ErrorLogConfig['level'], string> = {
  debug: 'debug',
  info: 'info',
  notice: 'info',
  warn: 'warn',
  error: 'error',
  crit: 'fatal',
  alert: 'fatal',
  emerg: 'fatal',
};

/**
 * The process logger: JSON lines (pino) to `error_log`'s file or to stderr. Nothing secret is
 * ever passed to it: credentials are `Secret`s, which serialise as a marker.
 */
export function createLogger(errorLog: ErrorLogConfig | undefined, fallbackLevel: ErrorLogConfig['level'] = 'info'): Logger {
  const level = LEVELS[errorLog?.level ?? fallbackLevel];
  const target = errorLog?.target ?? 'stderr';
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (target === 'stderr') return pino(options, pino.destination(2));
  const destination = pino.destination({ dest: target, mkdir: true, sync: false });
  const opened = new Promise<void>((settle) => destination.once('ready', settle).once('error', () => settle()));
  logFiles.set(destination, { path: target, opened });
  return pino(options, destination);
}

/** Every log file this process writes, for `reopenLogFiles`. */
const logFiles = new Map<ReturnType<typeof pino.destination>, { path: string; opened: Promise<void> }>();

/**
 * Resolves once every log file is open (or failed to open): a worker waits for it before it
 * switches user, and pino's flush at exit throws on a file not open yet.
 */
export async function logFilesOpen(): Promise<void> {
  await Promise.all([...logFiles.values()].map((file) => file.opened));
}

/** The paths of this process's log files. */
export const logFilePaths = (): string[] => [...new Set([...logFiles.values()].map((file) => file.path))];

/**
 * nginx's reopen (SIGUSR1, after logrotate renamed the files): every log file of this process is
 * opened again by name, created if it was moved away. One that cannot be opened keeps being
 * written where it was, with nginx's `[emerg] open() "FILE" failed (...)`.
 */
export function reopenLogFiles(logger: Logger): void {
  for (const [destination, { path }] of logFiles) {
    try {
      closeSync(openSync(path, 'a'));
    } catch (error) {
      logger.fatal(`open() "${path}" failed ${errnoText(error as NodeJS.ErrnoException)}`);
      continue;
    }
    destination.reopen();
  }
}

/** A logger that drops everything, for tests. */
export const silentLogger = (): Logger => pino({ level: 'silent' });

type Bindings = Record<string, unknown>;
type LazyLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/**
 * One connection's logger: the pino child (with the connection's bindings) is made on the first
 * line that passes the level. With `silentLogger`, or a level above the session lines, most
 * connections never need one, and a child costs ~0.5 KB and ~1 µs per connection.
 */
export class LazyChildLogger {
  #made: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: () => Bindings,
  ) {}

  /** The pino child itself (made now if it was not yet). */
  child(): Logger {
    return (this.#made ??= this.parent.child(this.bindings()));
  }

  debug(objOrMessage: Bindings | string, message?: string): void {
    this.log('debug', objOrMessage, message);
  }

  info(objOrMessage: Bindings | string, message?: string): void {
    this.log('info', objOrMessage, message);
  }

  warn(objOrMessage: Bindings | string, message?: string): void {
    this.log('warn', objOrMessage, message);
  }

  error(objOrMessage: Bindings | string, message?: string): void {
    this.log('error', objOrMessage, message);
  }

  /** nginx's `alert`: a fault of Postern's own (pino's `fatal` level). */
  alert(objOrMessage: Bindings | string, message?: string): void {
    this.log('fatal', objOrMessage, message);
  }

  private log(level: LazyLevel, objOrMessage: Bindings | string, message: string | undefined): void {
    if (!this.parent.isLevelEnabled(level)) return;
    if (typeof objOrMessage === 'string') this.child()[level](objOrMessage);
    else this.child()[level](objOrMessage, message);
  }
}
