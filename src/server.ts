import net from 'node:net';
import { AuthHttpClient } from './auth/client.js';
import { listenKey } from './config/listen-hosts.js';
import type { ListenConfig, MailConfig, ServerConfig } from './config/types.js';
import { createLogger, logFilesOpen, toErrorLog, type ErrorLog, type Logger } from './log.js';
import { accessLog } from './log/access-log.js';
import { allOf, type SessionEvents } from './log/session-events.js';
import { addressText } from './log/session-report.js';
import { processMetrics } from './metrics/proxy-metrics.js';
import { serverTls } from './net/secure-context.js';
import { buildServerContexts } from './net/tls-contexts.js';
import { tlsFiles, type TlsFiles } from './net/tls-files.js';
import { TlsEndpoint } from './net/tls-endpoint.js';
import { endpointSessions, localSessionServices, type SessionServices } from './net/session-cache.js';
import { runSession, type AuthService, type ConnectionMachine, type SessionInspector, type SessionOptions } from './session/session.js';
import { ConnectionBudget, PerAddressLimit } from './net/connection-budget.js';
import { protocolFor } from './protocols/registry.js';
import { fileJournal, type FileJournalFactory } from './journal/file-sink.js';
import { errnoText } from './process/errno.js';
import type { JournalFactory } from './journal/record.js';
import { readProxyHeaderFrom } from './net/proxy-header-socket.js';
import { clientAddress, TrustedSources, type ClientAddress } from './net/realip.js';
import { unmapIpv4 } from './net/ip-text.js';
import { RedisSessionStores } from './net/redis-session-store.js';
import { StartupError } from './process/startup-error.js';

export interface ProxyListener {
  server: ServerConfig;
  listen: ListenConfig;
  port: number;
}

export interface RunningProxy {
  /** The bound address of every listener of the configuration in force, in configuration order. */
  readonly listeners: ProxyListener[];
  /** Client connections open now, whatever their state (greeting, login, relay). */
  readonly sessions: number;
  /** `worker_connections` in use now: listeners, the master channel, clients, auth requests and upstreams. */
  readonly connectionsInUse: number;
  /**
   * Serve new connections with `config`: listeners on addresses kept stay open (only what they
   * serve is swapped), addresses removed stop accepting, new ones are bound. Live sessions keep
   * the configuration they started with. When a server cannot be set up or a new address cannot
   * be bound this throws and nothing has changed.
   */
  reload(config: MailConfig): Promise<void>;
  /** Stop accepting; resolves once every session has ended, or after `graceMs` with the rest closed. */
  quit(graceMs: number): Promise<void>;
  /** Close listeners and every connection now. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** The process's log (the top-level `error_log`s); a server with its own or the mail block's `error_log` logs there. */
  logger: Logger;
  /** Replace the auth_http client (tests, embedded default). */
  authFor?: (server: ServerConfig) => AuthService;
  /** Replace the `postern_journal` file sink (tests keep journals in memory). */
  journalFor?: (server: ServerConfig) => JournalFactory | undefined;
  /** `postern --inspect`: which connections the Stately inspector sees. */
  inspector?: SessionInspector;
  /** `shared:` session caches and random ticket keys: the primary's for a worker process; default, this process's own. */
  sessions?: SessionServices;
  /** This process is a worker of a master: its channel takes one of `worker_connections`, as nginx's does. */
  hasMasterChannel?: boolean;
  /** The connection chart; tests provide a variant (a faulty guard, say) to prove containment. */
  machine?: ConnectionMachine;
  /** Runs when the servers' TLS files are read and before addresses are bound (start, reload): a worker started as root switches user here. */
  beforeListen?: () => void;
}

const needsTls = (server: ServerConfig): boolean =>
  server.sslOn || server.starttls !== 'off' || server.listens.some((listen) => listen.ssl);

function listenOnce(listener: net.Server, listen: ListenConfig): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(new StartupError(`bind() to ${listenKey(listen.host, listen.port)} failed ${errnoText(error)}`));
    listener.once('error', onError);
    listener.listen(
      {
        host: listen.host,
        port: listen.port,
        backlog: listen.backlog ?? 511,
        ...(listen.ipv6only === undefined ? {} : { ipv6Only: listen.ipv6only }),
      },
      () => {
        listener.off('error', onError);
        const address = listener.address();
        resolve(typeof address === 'object' && address !== null ? address.port : listen.port);
      },
    );
  });
}

function applySocketOptions(socket: net.Socket, listen: ListenConfig): void {
  const keepalive = listen.soKeepalive;
  if (keepalive?.enabled) socket.setKeepAlive(true, (keepalive.idle ?? 0) * 1000);
}

/** The server's TLS endpoint: its files read through the load's `files`, its contexts built once. */
function tlsEndpointFor(server: ServerConfig, sessions: SessionServices, redisStores: RedisSessionStores, files: TlsFiles): { endpoint: TlsEndpoint; warnings: string[] } {
  const plan = serverTls(server, files);
  const ownSessions = endpointSessions(server, sessions, (url) => redisStores.for(url), plan.ticketKeys);
  const endpoint = new TlsEndpoint({
    contexts: buildServerContexts(plan, ownSessions.ticketKeys),
    protocol: server.protocol,
    handshakeTimeoutMs: server.timeoutMs,
    requestCert: server.ssl.verifyClient !== 'off',
    sessions: ownSessions,
  });
  return { endpoint, warnings: plan.warnings };
}

/** What a listening address serves new connections with; replaced as a whole by a reload. */
interface Route {
  server: ServerConfig;
  listen: ListenConfig;
  implicitTls: boolean;
  /** `postern_limit_conn_per_ip`, one table per `server { }`; null when off. */
  perAddress: PerAddressLimit | null;
  /** The address key of the socket that accepts this address's connections: its own, or a wildcard's (see sharedSockets). */
  socketKey: string;
  /** `set_real_ip_from`; null when the server has none. */
  trusted: TrustedSources | null;
  /**
   * What each of its connections is given (TLS side, auth service, journal, error_log, access log
   * and metrics): one object for all of them (a PROXY header's client adds a copy).
   */
  session: SessionOptions;
}

const isWildcard = (listen: ListenConfig): boolean => listen.host === '0.0.0.0' || listen.host === '::';
const familyPort = (listen: ListenConfig): string => `${listen.host.includes(':') ? 6 : 4}:${listen.port}`;

/**
 * nginx's ngx_mail_optimize_servers: on a port (and address family) with a wildcard address, an
 * address without `bind` is not bound (it could not be, beside the wildcard: EADDRINUSE); the
 * wildcard's socket accepts its connections and each is served by the `listen` of its local
 * address. Returns the socket key of every address key.
 */
function sharedSockets(listens: ListenConfig[]): Map<string, string> {
  const wildcards = new Map<string, string>();
  for (const listen of listens) if (listen.port !== 0 && isWildcard(listen)) wildcards.set(familyPort(listen), addressKey(listen));
  const out = new Map<string, string>();
  for (const listen of listens) {
    const key = addressKey(listen);
    const wildcard = !isWildcard(listen) && !listen.bind && listen.port !== 0 ? wildcards.get(familyPort(listen)) : undefined;
    out.set(key, wildcard ?? key);
  }
  return out;
}

/** A listener is known by its address, as nginx matches listening sockets across a reload. */
const addressKey = (listen: ListenConfig): string => (listen.port === 0 ? ephemeralKey(listen) : `${listen.host}:${listen.port}`);

/** Port 0 is "any free port": every such `listen` is a socket of its own (tools and tests use it). */
const ephemeralKeys = new WeakMap<ListenConfig, string>();
let ephemeralCount = 0;
function ephemeralKey(listen: ListenConfig): string {
  let key = ephemeralKeys.get(listen);
  if (key === undefined) {
    key = `${listen.host}:0#${++ephemeralCount}`;
    ephemeralKeys.set(listen, key);
  }
  return key;
}

/** Bind every `listen` of every `server` and serve each connection with a session. */
export async function startProxy(config: MailConfig, options: StartOptions): Promise<RunningProxy> {
  const logger = toErrorLog(options.logger);
  const { inspector } = options;
  // Named shared caches outlive reloads, as nginx's shared memory zones do.
  const sessions = options.sessions ?? localSessionServices();
  /** `postern_ssl_session_store`: one Redis client per URL, outliving reloads like the shared caches. */
  const redisStores = new RedisSessionStores(logger);
  const sockets = new Set<net.Socket>();
  /** Connections refused by `postern_limit_conn_per_ip`, until their line is out and they close. */
  const refused = new Set<net.Socket>();
  const whenIdle: Array<() => void> = [];
  const bound = new Map<string, { listener: net.Server; port: number }>();
  let routes = new Map<string, Route>();
  /** Routes of a reload in progress: its new addresses accept before the swap. */
  let staged = new Map<string, Route>();
  let listeners: ProxyListener[] = [];
  const journals = new Map<string, FileJournalFactory>();
  const budget = new ConnectionBudget(config.workerConnections, options.hasMasterChannel ? 1 : 0);
  const journalFor = (server: ServerConfig): JournalFactory | undefined => {
    if (options.journalFor) return options.journalFor(server);
    if (server.journalDir === undefined) return undefined;
    let factory = journals.get(server.journalDir);
    if (!factory) {
      factory = fileJournal(server.journalDir, logger);
      journals.set(server.journalDir, factory);
    }
    return factory;
  };

  /** One logger per distinct list of `error_log`s: servers naming the same files share it. */
  const serverLoggers = new Map<string, ErrorLog>();
  const loggerFor = (server: ServerConfig, format: MailConfig['logFormat']): ErrorLog => {
    if (server.errorLogs === undefined) return logger;
    const key = JSON.stringify([format, server.errorLogs]);
    let made = serverLoggers.get(key);
    if (made === undefined) {
      made = createLogger(server.errorLogs, format);
      serverLoggers.set(key, made);
    }
    return made;
  };

  /** One access log per file and format. */
  const accessLogs = new Map<string, SessionEvents>();
  const eventsFor = (server: ServerConfig, next: MailConfig): SessionEvents | undefined => {
    let access: SessionEvents | undefined;
    if (server.accessLog !== undefined) {
      const key = `${server.accessLog.format}:${server.accessLog.path}`;
      access = accessLogs.get(key);
      if (access === undefined) {
        access = accessLog(server.accessLog);
        accessLogs.set(key, access);
      }
    }
    return allOf([access, next.metricsListen === undefined ? undefined : processMetrics()]);
  };

  const routesFor = (next: MailConfig): Map<string, Route> => {
    const out = new Map<string, Route>();
    const socketKeys = sharedSockets(next.servers.flatMap((server) => server.listens));
    // This load's TLS files: each read once, whichever servers name it.
    const files = tlsFiles();
    for (const server of next.servers) {
      let tls: TlsEndpoint | null = null;
      if (needsTls(server)) {
        const made = tlsEndpointFor(server, sessions, redisStores, files);
        tls = made.endpoint;
        // What `postern -t` prints (expired certificates...), logged by the process that loads them.
        for (const warning of made.warnings) logger.warn(warning);
      }
      const auth = options.authFor?.(server) ?? new AuthHttpClient(server.authHttp, server.authHttpHeaders, server.authHttpTimeoutMs);
      const journal = journalFor(server);
      const perAddress = server.limitConnPerIp === undefined ? null : new PerAddressLimit(server.limitConnPerIp);
      const trusted = server.realIpFrom.length === 0 ? null : new TrustedSources(server.realIpFrom);
      const events = eventsFor(server, next);
      for (const listen of server.listens) {
        const key = addressKey(listen);
        const implicitTls = listen.ssl || server.sslOn;
        const session: SessionOptions = {
          server,
          listenAddress: addressText(listen.host, listen.port),
          implicitTls,
          tls,
          auth,
          // The server's error_log: its own, the mail block's, else the process's.
          logger: loggerFor(server, next.logFormat),
          budget,
          ...(events === undefined ? {} : { events }),
          ...(journal === undefined ? {} : { journal }),
          ...(inspector === undefined ? {} : { inspector }),
          ...(options.machine === undefined ? {} : { machine: options.machine }),
        };
        out.set(key, { server, listen, implicitTls, perAddress, trusted, socketKey: socketKeys.get(key)!, session });
      }
    }
    return out;
  };

  /** Per route table: the sockets that serve other addresses besides their own (a wildcard that specific addresses share). */
  const sharedIn = new WeakMap<Map<string, Route>, Set<string>>();
  const sharedSocketsOf = (table: Map<string, Route>): Set<string> => {
    let shared = sharedIn.get(table);
    if (shared === undefined) {
      shared = new Set([...table].filter(([key, route]) => route.socketKey !== key).map(([, route]) => route.socketKey));
      sharedIn.set(table, shared);
    }
    return shared;
  };

  /** The route of a connection accepted on `key`'s socket: its local address's when that one shares the socket. */
  const routeOf = (key: string, socket: net.Socket): Route | undefined => {
    // A socket of one address needs no lookup of the connection's own address (a system call).
    if (!sharedSocketsOf(routes).has(key) && !sharedSocketsOf(staged).has(key)) return routes.get(key) ?? staged.get(key);
    const local = `${(socket.localAddress ?? '').replace(/^::ffff:/, '')}:${socket.localPort}`;
    for (const table of [routes, staged]) {
      const own = table.get(local);
      if (own !== undefined && own.socketKey === key) return own;
    }
    return routes.get(key) ?? staged.get(key);
  };

  /** One listener for every accepted socket (its `this`), rather than a closure and a `once` wrapper each. */
  function onAcceptedClose(this: net.Socket): void {
    budget.release();
    sockets.delete(this);
    if (sockets.size === 0) for (const wake of whenIdle.splice(0)) wake();
  }

  const accept = (key: string) => (socket: net.Socket) => {
    const route = routeOf(key, socket);
    if (route === undefined) {
      // The address was dropped by a reload while this connection was being accepted.
      socket.destroy();
      return;
    }
    if (!budget.take()) {
      // nginx closes the new socket at once: the client sees the connection closed, no greeting.
      logger.fatal(budget.exhaustedMessage);
      socket.destroy();
      return;
    }
    const peer = { ip: unmapIpv4(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
    // Behind a PROXY protocol sender the client is known after the header: the limit counts it then.
    if (!route.listen.proxyProtocol && !withinPerAddressLimit(socket, route, peer.ip, () => budget.release())) return;
    sockets.add(socket);
    socket.on('close', onAcceptedClose);
    applySocketOptions(socket, route.listen);
    if (route.listen.proxyProtocol) {
      readClientFromProxyHeader(socket, route, peer);
      return;
    }
    serve(socket, route);
  };

  /** `postern_limit_conn_per_ip`: takes the address's slot (given back at close), or refuses the connection. */
  const withinPerAddressLimit = (socket: net.Socket, route: Route, clientIp: string, onRefused: () => void): boolean => {
    const { perAddress } = route;
    if (perAddress === null) return true;
    if (!perAddress.take(clientIp)) {
      onRefused();
      refuseOverLimit(socket, route, clientIp);
      return false;
    }
    socket.once('close', () => perAddress.release(clientIp));
    return true;
  };

  /** `listen ... proxy_protocol`: the header first (nothing is written before it), then the session. */
  const readClientFromProxyHeader = (socket: net.Socket, route: Route, peer: { ip: string; port: number }) => {
    void readProxyHeaderFrom(socket, route.server.timeoutMs).then((outcome) => {
      if (outcome.status === 'failed') {
        logger[outcome.level]({ client: peer.ip, server: `${unmapIpv4(socket.localAddress ?? '')}:${socket.localPort}` }, outcome.log);
        socket.on('error', () => undefined);
        socket.destroy();
        return;
      }
      if (socket.destroyed) return;
      const client = clientAddress(peer, outcome.addresses, route.trusted);
      if (withinPerAddressLimit(socket, route, client.ip, () => undefined)) serve(socket, route, client);
    });
  };

  const serve = (socket: net.Socket, route: Route, client?: ClientAddress) => {
    runSession(socket, client === undefined ? route.session : { ...route.session, client });
  };

  /** `postern_limit_conn_per_ip` reached: the internal-error line (no TLS is spent on an `ssl` listen), then close. */
  const refuseOverLimit = (socket: net.Socket, route: Route, clientIp: string) => {
    logger.warn({ client: clientIp, server: `${socket.localAddress}:${socket.localPort}` }, `limiting connections per address to ${route.server.limitConnPerIp}`);
    socket.on('error', () => undefined);
    if (route.implicitTls) {
      socket.destroy();
      return;
    }
    refused.add(socket);
    socket.once('close', () => refused.delete(socket));
    // Read and drop what the client sends: a socket never read never sees the client's close.
    socket.resume();
    socket.end(protocolFor(route.server.protocol).dialect.internalError, 'latin1');
    // A client that does not read must not keep the socket: the line is small, the kernel takes it.
    socket.setTimeout(route.server.timeoutMs, () => socket.destroy());
  };

  const bind = async (listen: ListenConfig): Promise<void> => {
    const key = addressKey(listen);
    const listener = net.createServer({ noDelay: true }, accept(key));
    listener.on('error', (error) => logger.error({ err: error.message, listen: listen.text }, 'listener error'));
    const port = await listenOnce(listener, listen);
    bound.set(key, { listener, port });
    budget.reserve(1);
  };

  /** Stop accepting on `key`; its connections live on (net.Server.close does not end them). */
  const unbind = (key: string): void => {
    const entry = bound.get(key);
    if (entry === undefined) return;
    entry.listener.close();
    bound.delete(key);
    budget.reserve(-1);
  };

  const apply = async (next: MailConfig): Promise<void> => {
    // Random ticket keys come from `sessions`, which outlives the reload: old tickets still resume.
    const nextRoutes = routesFor(next);
    // The servers' own logs are opened before a worker started as root switches user.
    await logFilesOpen();
    options.beforeListen?.();
    const opened: string[] = [];
    staged = nextRoutes;
    try {
      for (const [key, route] of nextRoutes) {
        if (bound.has(key) || route.socketKey !== key) continue;
        await bind(route.listen);
        opened.push(key);
      }
    } catch (error) {
      for (const key of opened) unbind(key);
      throw error;
    } finally {
      staged = new Map();
    }
    const reloading = routes.size > 0;
    routes = nextRoutes;
    budget.limit = next.workerConnections;
    if (reloading) closeOlderSessionsAfter(next.workerShutdownTimeoutMs);
    for (const key of [...bound.keys()]) if (nextRoutes.get(key)?.socketKey !== key) unbind(key);
    listeners = next.servers.flatMap((server) =>
      server.listens.map((listen) => ({ server, listen, port: bound.get(nextRoutes.get(addressKey(listen))!.socketKey)!.port })),
    );
  };

  /**
   * `worker_shutdown_timeout` after a reload in place: nginx's old worker closes the sessions it
   * still serves when the timeout expires; here the sessions that began before this reload are
   * those. Without the directive they run on, as in nginx.
   */
  const shutdownTimers = new Set<NodeJS.Timeout>();
  const closeOlderSessionsAfter = (timeoutMs: number | undefined) => {
    if (timeoutMs === undefined || sockets.size === 0) return;
    const older = [...sockets];
    const timer = setTimeout(() => {
      shutdownTimers.delete(timer);
      const open = older.filter((socket) => !socket.destroyed);
      if (open.length > 0) logger.info(`worker_shutdown_timeout: closing ${open.length} session(s) begun before the reload`);
      for (const socket of open) socket.destroy();
    }, timeoutMs);
    shutdownTimers.add(timer);
  };

  const close = async (): Promise<void> => {
    redisStores.close();
    for (const timer of shutdownTimers) clearTimeout(timer);
    shutdownTimers.clear();
    for (const socket of sockets) socket.destroy();
    for (const socket of refused) socket.destroy();
    const closing = [...bound.values()].map(({ listener }) => new Promise<void>((resolve) => listener.close(() => resolve())));
    bound.clear();
    await Promise.all(closing);
    // Sessions close their journals as their machines finish; wait for the files to be written.
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.all([...journals.values()].map((j) => j.drain()));
  };

  const quit = async (graceMs: number): Promise<void> => {
    for (const key of [...bound.keys()]) unbind(key);
    if (sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        whenIdle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    await close();
  };

  try {
    await apply(config);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    get listeners() {
      return listeners;
    },
    get sessions() {
      return sockets.size;
    },
    get connectionsInUse() {
      return budget.used;
    },
    reload: apply,
    quit,
    close,
  };
}
