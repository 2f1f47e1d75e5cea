import { createRequire } from 'node:module';
import type { Logger as PinoLogger } from 'pino';
import { contextFields, contextSuffix, type ConnectionContext } from './context.js';
import type { Destination } from './destinations.js';
import { passes, type Level } from './levels.js';
import { errorLogLine } from './line.js';

/** Extra facts of a line: in JSON they are fields, in nginx's text they follow the message. */
export type Fields = Record<string, unknown>;

/**
 * What Postern logs into. Method syntax on purpose: a pino logger fits too (tests capture JSON
 * lines with one), and `toErrorLog` wraps it.
 */
export interface Logger {
  debug(objOrMessage: Fields | string, message?: string): void;
  info(objOrMessage: Fields | string, message?: string): void;
  warn(objOrMessage: Fields | string, message?: string): void;
  error(objOrMessage: Fields | string, message?: string): void;
  /** nginx's `alert`. */
  fatal(objOrMessage: Fields | string, message?: string): void;
  isLevelEnabled(level: string): boolean;
  flush(): void;
}

/** One `error_log`: the lowest level it takes and how it writes a line. */
export interface Sink {
  readonly level: Level;
  emit(level: Level, message: string, context: ConnectionContext | undefined, fields: Fields | undefined): void;
}

/** nginx's text lines to a destination. */
export function textSink(level: Level, destination: Destination): Sink {
  return {
    level,
    emit(lineLevel, message, context, fields) {
      let text = message;
      if (fields !== undefined) for (const [key, value] of Object.entries(fields)) text += `, ${key}: ${String(value)}`;
      if (context !== undefined) text += contextSuffix(context);
      destination.write(errorLogLine(lineLevel, context?.number, text), lineLevel);
    },
  };
}

/** pino's numeric levels for nginx's eight (pino has no notice, crit, alert or emerg). */
const PINO_LEVEL: Record<Level, 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
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
 * `postern_log_format json`: pino lines with the same facts as nginx's text, as fields
 * (`severity` is nginx's level name; `connection`, `client`, `server`, `login`, `upstream`,
 * `action`, `starttls` for a session's lines).
 */
export function jsonSink(level: Level, destination: Destination): Sink {
  // Loaded here, with the first JSON log: a process that writes nginx's text never loads pino.
  const { pino } = createRequire(import.meta.url)('pino') as typeof import('pino');
  const json = pino(
    { level: 'debug', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    { write: (line: string) => destination.write(line, level) },
  );
  return {
    level,
    emit(lineLevel, message, context, fields) {
      json[PINO_LEVEL[lineLevel]]({ severity: lineLevel, ...(context === undefined ? {} : contextFields(context)), ...fields }, message);
    },
  };
}

/**
 * Several `error_log`s of one context (nginx chains them, each taking the lines at or above its
 * own level). A line below every level costs one comparison: session code asks `enabled` first.
 */
export class ErrorLog implements Logger {
  /** The most verbose level any sink takes. */
  readonly #lowest: Level | null;

  constructor(
    private readonly sinks: readonly Sink[],
    private readonly onFlush: () => void = () => undefined,
    /** For a wrapped pino logger: its own level test. */
    private readonly accepts?: (level: Level) => boolean,
  ) {
    this.#lowest = sinks.reduce<Level | null>((lowest, sink) => (lowest === null || passes(lowest, sink.level) ? sink.level : lowest), null);
  }

  enabled(level: Level): boolean {
    if (this.#lowest === null || !passes(level, this.#lowest)) return false;
    return this.accepts === undefined || this.accepts(level);
  }

  /** One line: `context` is the connection's (number and suffix), `fields` any extra facts. */
  write(level: Level, message: string, context?: ConnectionContext, fields?: Fields): void {
    if (!this.enabled(level)) return;
    for (const sink of this.sinks) if (passes(level, sink.level)) sink.emit(level, message, context, fields);
  }

  debug(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('debug', objOrMessage, message);
  }
  info(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('info', objOrMessage, message);
  }
  notice(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('notice', objOrMessage, message);
  }
  warn(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('warn', objOrMessage, message);
  }
  error(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('error', objOrMessage, message);
  }
  crit(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('crit', objOrMessage, message);
  }
  alert(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('alert', objOrMessage, message);
  }
  fatal(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('alert', objOrMessage, message);
  }
  emerg(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('emerg', objOrMessage, message);
  }

  isLevelEnabled(level: string): boolean {
    return this.enabled((level === 'fatal' ? 'alert' : level) as Level);
  }

  flush(): void {
    this.onFlush();
  }

  #pinoStyle(level: Level, objOrMessage: Fields | string, message: string | undefined): void {
    if (!this.enabled(level)) return;
    if (typeof objOrMessage === 'string') this.write(level, objOrMessage);
    else this.write(level, message ?? '', undefined, objOrMessage);
  }
}

/** A logger as Postern's code uses it: an `ErrorLog` as is, a pino logger (tests) wrapped. */
export function toErrorLog(logger: Logger): ErrorLog {
  if (logger instanceof ErrorLog) return logger;
  const pinoLogger = logger as PinoLogger;
  const sink: Sink = {
    level: 'debug',
    emit(level, message, context, fields) {
      pinoLogger[PINO_LEVEL[level]]({ ...(context === undefined ? {} : contextFields(context)), ...fields }, message);
    },
  };
  return new ErrorLog([sink], () => pinoLogger.flush(), (level) => pinoLogger.isLevelEnabled(PINO_LEVEL[level]));
}

/** A logger that drops everything, for tests and tools. */
export const silentLogger = (): ErrorLog => new ErrorLog([]);
