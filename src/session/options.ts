import type { InspectionEvent, Observer } from 'xstate';
import type { connectionMachine } from '../../machines/connection.js';
import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import type { ServerConfig } from '../config/types.js';
import type { JournalFactory } from '../journal/record.js';
import type { Logger } from '../log.js';
import type { SessionEvents } from '../log/session-events.js';
import type { ConnectionBudget } from '../net/connection-budget.js';
import type { ClientAddress } from '../net/realip.js';
import type { TlsEndpoint } from '../net/tls-endpoint.js';

/** Asks the auth service about one set of credentials; never rejects. */
export interface AuthService {
  request(request: AuthRequest, signal: AbortSignal): Promise<AuthOutcome>;
}

/** Chooses the connections the Stately inspector sees (see src/inspect/inspector.ts). */
export interface SessionInspector {
  /** The inspection observer for a new connection from `clientIp`, or undefined to leave it alone. */
  observerFor(clientIp: string): Observer<InspectionEvent> | undefined;
}

export type ConnectionMachine = typeof connectionMachine;

/** What one listener gives each of its connections. */
export interface SessionOptions {
  server: ServerConfig;
  /** Whether this listener is `listen ... ssl` (or the server has the legacy `ssl on`). */
  implicitTls: boolean;
  /** The server's TLS side; null when it has no TLS at all. */
  tls: TlsEndpoint | null;
  auth: AuthService;
  /** The server's error_log. */
  logger: Logger;
  /** nginx's `server:` in log lines, the listening address and port as configured (`0.0.0.0:143` for `listen 143`); default, the socket's own. */
  listenAddress?: string;
  /** The access log and the metrics: told of a session's few countable moments. */
  events?: SessionEvents;
  /** Opens a journal for a new connection (the `postern_journal` extension directive). */
  journal?: JournalFactory;
  /** Streams selected connections to the Stately inspector (`postern --inspect`). */
  inspector?: SessionInspector;
  /** `worker_connections`: auth_http requests and upstream connections take one each. */
  budget: ConnectionBudget;
  /** The connection chart; tests provide a variant (a faulty guard, say) to prove containment. */
  machine?: ConnectionMachine;
  /** Who the client is when a PROXY header said so (`listen ... proxy_protocol`); absent: the TCP peer. */
  client?: ClientAddress;
}
