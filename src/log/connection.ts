import { nextConnectionNumber, type ConnectionContext } from './context.js';
import type { Level } from './levels.js';
import type { ErrorLog, Fields, Logger } from './logger.js';

/** A session's log context (not the session runtime's `SessionContext`): a class, so that a connection holds one object and no closures. */
class LogContext implements ConnectionContext {
  readonly number = nextConnectionNumber();
  starttls = false;
  login: string | undefined = undefined;
  upstream: string | undefined = undefined;
  action: string | undefined = undefined;

  constructor(
    readonly client: string,
    public server: string | undefined,
  ) {}
}

/**
 * One connection's log: nginx's connection number and the context its mail modules append
 * (client, server, login, upstream, `while ...`), which the session updates as it goes; the
 * message texts are the caller's. Cheap to make: a line below the log's level builds nothing.
 */
export class ConnectionLog implements Logger {
  readonly context: ConnectionContext;

  /** `server`: the listening address (nginx's `server:`). */
  constructor(
    private readonly log: ErrorLog,
    client: string,
    server?: string,
  ) {
    this.context = new LogContext(client, server);
  }

  enabled(level: Level): boolean {
    return this.log.enabled(level);
  }

  /** A line with the context suffix. */
  write(level: Level, message: string, fields?: Fields): void {
    if (this.log.enabled(level)) this.log.write(level, message, this.context, fields);
  }

  /** nginx's first line of a mail session, `*N client ADDR:PORT connected to ADDR:PORT`, written without the suffix. */
  connected(clientAddress: () => string): void {
    if (!this.log.enabled('info')) return;
    const { number, server } = this.context;
    this.log.write('info', `*${number} client ${clientAddress()} connected to ${server ?? ''}`, undefined, undefined);
  }

  debug(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('debug', objOrMessage, message);
  }
  info(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('info', objOrMessage, message);
  }
  warn(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('warn', objOrMessage, message);
  }
  error(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('error', objOrMessage, message);
  }
  alert(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('alert', objOrMessage, message);
  }
  fatal(objOrMessage: Fields | string, message?: string): void {
    this.#pinoStyle('alert', objOrMessage, message);
  }
  isLevelEnabled(level: string): boolean {
    return this.log.isLevelEnabled(level);
  }
  flush(): void {
    this.log.flush();
  }

  #pinoStyle(level: Level, objOrMessage: Fields | string, message: string | undefined): void {
    if (!this.log.enabled(level)) return;
    if (typeof objOrMessage === 'string') this.write(level, objOrMessage);
    else this.write(level, message ?? '', objOrMessage);
  }
}
