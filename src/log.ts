import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';
import type { ErrorLogConfig } from './config/types.js';

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
  const destination: DestinationStream =
    target === 'stderr' ? pino.destination(2) : pino.destination({ dest: target, mkdir: true, sync: false });
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** A logger that drops everything, for tests. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
