import type { MailConfig } from '../config/types.js';
import type { ErrorLog } from '../log.js';
import type { RunningProxy } from '../server.js';
import type { ListenerReport } from './messages.js';

/**
 * How long a graceful stop lets sessions run: `worker_shutdown_timeout`, else, as nginx, until
 * they end; for Node's timers that is their longest delay, ~24.8 days.
 */
export const shutdownGraceMs = (config: MailConfig): number => config.workerShutdownTimeoutMs ?? 2 ** 31 - 1;

/** What a running Postern (one process, or a master and its workers) needs beyond its configuration. */
export interface RunPlan {
  config: MailConfig;
  /** Re-reads the configuration (its certificates are loaded by the serving processes); throws the `-t` error. */
  reloadConfig(): Promise<MailConfig>;
  /** The `-t` wording of a failure (`[emerg] ... in FILE:LINE`). */
  describeFailure(error: unknown): string;
  logger: ErrorLog;
}

export const reportListeners = (proxy: RunningProxy): ListenerReport[] =>
  proxy.listeners.map(({ server, listen, port }) => ({ host: listen.host, port, ssl: listen.ssl, protocol: server.protocol, starttls: server.starttls }));

/** `127.0.0.1:10110 (pop3, starttls on)`: one listener, for the start-up lines and the log. */
export const describeListener = (l: ListenerReport): string =>
  `${l.host}:${l.port}${l.ssl ? ' ssl' : ''} (${l.protocol}${l.starttls === 'off' ? '' : `, starttls ${l.starttls}`})`;
