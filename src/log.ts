/**
 * Postern's error_log: nginx's lines (`YYYY/MM/DD HH:MM:SS [level] PID#TID: *N message`, with
 * the mail modules' context suffix) to files, stderr and syslog, or pino JSON lines with
 * `postern_log_format json`. The parts live in src/log/; this is what the rest imports.
 */
import type { ErrorLogConfig } from './config/types.js';
import { fileDestination, flushLogFiles, reopenLogFiles as reopenFiles, stderrDestination, syslogDestination, type Destination } from './log/destinations.js';
import { ErrorLog, jsonSink, textSink, toErrorLog, type Logger, type Sink } from './log/logger.js';

export { ErrorLog, silentLogger, toErrorLog, type Fields, type Logger } from './log/logger.js';
export { ConnectionLog } from './log/connection.js';
export { logFilePaths, logFilesOpen } from './log/destinations.js';
export type { Level } from './log/levels.js';

export type LogFormat = 'text' | 'json';

/** Without any `error_log`: stderr, from notice (process events; a session's lines are info). */
const FALLBACK: ErrorLogConfig = { target: 'stderr', level: 'notice' };

function destinationFor(log: ErrorLogConfig): Destination {
  if (log.syslog !== undefined) return syslogDestination(log.syslog);
  return log.target === 'stderr' ? stderrDestination() : fileDestination(log.target);
}

/** The logger for a list of `error_log`s (one context's); none: stderr from notice. */
export function createLogger(errorLogs: readonly ErrorLogConfig[] | undefined, format: LogFormat = 'text'): ErrorLog {
  const logs = errorLogs === undefined || errorLogs.length === 0 ? [FALLBACK] : errorLogs;
  const sinks: Sink[] = logs.map((log) => (format === 'json' ? jsonSink : textSink)(log.level, destinationFor(log)));
  return new ErrorLog(sinks, flushLogFiles);
}

/**
 * nginx's reopen (SIGUSR1): every log file of this process opened again by name. A file that
 * cannot be opened keeps being written where it was, with nginx's `[emerg] open() "FILE" failed`.
 */
export function reopenLogFiles(logger: Logger): void {
  for (const failure of reopenFiles()) toErrorLog(logger).emerg(failure);
}
