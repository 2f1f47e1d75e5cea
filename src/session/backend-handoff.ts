import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { BackendTarget } from '../../machines/types.js';
import { nextConnectionNumber } from '../log/context.js';
import { addressText, logRelayFailure } from '../log/session-report.js';
import { upstreamActionAfter } from '../log/upstream-action.js';
import { unmapIpv4 } from '../net/ip-text.js';
import { loginToBackend, type BackendLoginError, type BackendSession } from '../proxy/backend-login.js';
import { backendProxyHeader } from '../proxy/backend-proxy-header.js';
import type { ClientAddressFacts } from '../proxy/client-address-forward.js';
import { relay } from '../proxy/relay.js';
import type { SessionContext } from './context.js';

const EMPTY = Buffer.alloc(0);

/** `connectBackend`: the upstream connection (a slot of the worker's pool) and the protocol's login there. */
export function connectBackend(target: BackendTarget, session: SessionContext): void {
  const { options, server, log } = session;
  if (!session.takeSlot()) {
    queueMicrotask(() => session.send({ type: 'backend.failed', reason: options.budget.exhaustedMessage }));
    return;
  }
  nextConnectionNumber();
  log.context.upstream = addressText(target.server, target.port);
  log.context.action = undefined;
  const connecting = performance.now();
  const { proxyHeader, forward } = clientFacts(session);
  const onSend = (line: string) => (session.upstreamAction = upstreamActionAfter(line, session.upstreamAction));
  loginToBackend(server.protocol, target, { bufferSize: server.proxyBufferSize, signal: session.signal(), proxySsl: server.proxySsl, logger: log, onSend, proxyHeader, forward })
    .then(
      (backend) => {
        // A session that ended meanwhile has no use for the backend.
        if (!session.enter(() => loggedIn(session, backend, (performance.now() - connecting) / 1000))) backend.socket.destroy();
      },
      (error: BackendLoginError) => {
        session.releaseSlot();
        session.enter(() => refused(session, error));
      },
    )
    .catch((error: unknown) => session.fail(error));
}

/**
 * What `proxy_protocol` and `postern_proxy_forward` tell the backend about the client. The
 * socket's own address (a `getsockname` system call) is read only for them: most servers use
 * neither.
 */
function clientFacts(session: SessionContext): { proxyHeader: Buffer | undefined; forward: ClientAddressFacts | undefined } {
  const { server, options, log, socket } = session;
  if (server.proxyProtocol === 'off' && !server.proxyForward) return { proxyHeader: undefined, forward: undefined };
  const clientIp = log.context.client;
  const clientPort = options.client?.port ?? socket.remotePort ?? 0;
  const localIp = unmapIpv4(socket.localAddress ?? '');
  const localPort = socket.localPort ?? 0;
  return {
    proxyHeader: backendProxyHeader(server.proxyProtocol, { ip: clientIp, port: clientPort }, { ip: localIp, port: localPort }),
    forward: server.proxyForward ? { clientIp, clientPort, localIp, localPort, sessionId: randomBytes(12).toString('base64url') } : undefined,
  };
}

function loggedIn(session: SessionContext, backend: BackendSession, seconds: number): void {
  session.options.events?.backendLoggedIn(seconds);
  session.backend = backend;
  backend.socket.on('error', () => undefined);
  backend.socket.once('close', () => session.releaseSlot());
  session.send({ type: 'backend.ready' });
}

function refused(session: SessionContext, error: BackendLoginError): void {
  if (error.message !== 'aborted') {
    session.logError(error.message);
    session.facts.failure = 'backend_error';
  }
  session.send({ type: 'backend.failed', reason: error.message, ...(error.passthrough === undefined ? {} : { passthrough: error.passthrough }) });
}

/**
 * `startRelay`: the machine is done with the dialogue; the client's transport and the backend
 * are joined byte for byte (src/proxy/relay.ts), what the client pipelined going first to the
 * backend and the backend's first reply to the client. The machine hears only how it ended.
 */
export function startRelay(session: SessionContext): void {
  const toBackend = session.handOffToRelay() ?? EMPTY;
  const { transport, backend, log } = session;
  transport.removeAllListeners('end');
  if (backend === null) {
    session.send({ type: 'relay.ended', reason: 'no backend connection' });
    return;
  }
  session.facts.relayBase = { socket: backend.socket, read: backend.socket.bytesRead, written: backend.socket.bytesWritten };
  transport.resume();
  const toClient = backend.firstReply;
  // Written at once by the relay: not held for the session's life (it may be a view of a whole read chunk).
  backend.firstReply = EMPTY;
  relay(transport as Socket, backend.socket, {
    toClient,
    toBackend,
    idleTimeoutMs: session.server.proxyTimeoutMs,
  }).then(
    (result) => {
      if (result.failure !== undefined) logRelayFailure(log, result.failure.side, result.failure.error);
      // One log line per session end: the close effect logs this reason (nginx's wording first).
      const reason = result.reason === 'client timed out while proxying' ? result.reason : `proxied session done (${result.reason})`;
      session.send({ type: 'relay.ended', reason });
    },
    (error: unknown) => session.fail(error),
  );
}
