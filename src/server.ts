import net from 'node:net';
import { AuthHttpClient } from './auth/client.js';
import type { ListenConfig, MailConfig, ServerConfig } from './config/types.js';
import type { Logger } from './log.js';
import { checkServerContext, serverContextOptions } from './net/tls.js';
import { TlsEndpoint } from './net/tls-endpoint.js';
import { supportedProtocols } from './protocols/dialects.js';
import { runSession, type AuthService, type SessionInspector } from './session/session.js';
import { fileJournal, type FileJournalFactory } from './journal/file-sink.js';
import type { JournalFactory } from './journal/record.js';

export interface RunningProxy {
  /** The bound address of every listener, in configuration order. */
  readonly listeners: Array<{ server: ServerConfig; listen: ListenConfig; port: number }>;
  close(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  /** Replace the auth_http client (tests, embedded default). */
  authFor?: (server: ServerConfig) => AuthService;
  /** Replace the `postern_journal` file sink (tests keep journals in memory). */
  journalFor?: (server: ServerConfig) => JournalFactory | undefined;
  /** `postern --inspect`: which connections the Stately inspector sees. */
  inspector?: SessionInspector;
}

export class StartupError extends Error {}

const needsTls = (server: ServerConfig): boolean =>
  server.sslOn || server.starttls !== 'off' || server.listens.some((listen) => listen.ssl);

function listenOnce(listener: net.Server, listen: ListenConfig): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(new StartupError(`bind() to ${listen.text} failed (${error.code ?? error.message})`));
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

function tlsEndpointFor(server: ServerConfig): TlsEndpoint {
  checkServerContext(server.ssl);
  return new TlsEndpoint({
    context: serverContextOptions(server.ssl),
    protocol: server.protocol,
    handshakeTimeoutMs: server.timeoutMs,
    requestCert: server.ssl.verifyClient !== 'off',
  });
}

/** Bind every `listen` of every `server` and serve each connection with a session. */
export async function startProxy(config: MailConfig, options: StartOptions): Promise<RunningProxy> {
  const { logger } = options;
  const running: RunningProxy['listeners'] = [];
  const servers: net.Server[] = [];
  const sockets = new Set<net.Socket>();
  const journals = new Map<string, FileJournalFactory>();
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
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    // Sessions close their journals as their machines finish; wait for the files to be written.
    await new Promise((resolve) => setImmediate(resolve));
    await Promise.all([...journals.values()].map((j) => j.drain()));
  };
  try {
    for (const server of config.servers) {
      if (!supportedProtocols.includes(server.protocol)) {
        throw new StartupError(`protocol "${server.protocol}" is not supported yet, in ${server.where.file}:${server.where.line}`);
      }
      const tls = needsTls(server) ? tlsEndpointFor(server) : null;
      const auth = options.authFor?.(server) ?? new AuthHttpClient(server.authHttp, server.authHttpHeaders, server.authHttpTimeoutMs);
      const journal = journalFor(server);
      const { inspector } = options;
      for (const listen of server.listens) {
        const implicitTls = listen.ssl || server.sslOn;
        const listener = net.createServer({ noDelay: true }, (socket) => {
          sockets.add(socket);
          socket.once('close', () => sockets.delete(socket));
          applySocketOptions(socket, listen);
          runSession(socket, {
            server,
            implicitTls,
            tls,
            auth,
            logger,
            ...(journal === undefined ? {} : { journal }),
            ...(inspector === undefined ? {} : { inspector }),
          });
        });
        listener.on('error', (error) => logger.error({ err: error.message, listen: listen.text }, 'listener error'));
        servers.push(listener);
        const port = await listenOnce(listener, listen);
        running.push({ server, listen, port });
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { listeners: running, close };
}
