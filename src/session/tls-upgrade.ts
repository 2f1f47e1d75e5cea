import type { TLSSocket } from 'node:tls';
import { tlsInfo } from '../net/client-certificate.js';
import { negotiated, negotiatedSession } from '../net/negotiated.js';
import type { TlsEndpoint } from '../net/tls-endpoint.js';
import { attachSession, onClientError, onClientGone } from './client-listeners.js';
import type { SessionContext } from './context.js';

/**
 * `startTls`: the TLS handshake with the client, on `listen ... ssl` at once, after STARTTLS once
 * the reply to it is on the wire. The input read so far is dropped with the plaintext transport;
 * the machine hears `tls.established` (and reads again, from the TLS socket) or `tls.failed`.
 */
export function startTls(session: SessionContext): void {
  const { options, socket, log } = session;
  const endpoint = options.tls;
  if (endpoint === null) {
    session.send({ type: 'tls.failed', reason: 'no TLS context for this server' });
    return;
  }
  session.stopListening();
  socket.pause();
  // Everything the client pipelined after STARTTLS is dropped (CVE-2014-3556 class).
  const dropped = session.takeUnframed()?.length ?? 0;
  if (dropped > 0) log.debug({ bytes: dropped }, 'discarded input pipelined after STARTTLS');
  const { established } = session;
  if (established !== undefined) {
    // The handshake came before the resolver lookup; the machine hears of it now.
    queueMicrotask(() => secured(session, established));
    return;
  }
  session.handshaking = true;
  // nginx marks a STARTTLS connection at once; "in starttls state" lasts as long as the handshake.
  if (!options.implicitTls) log.context.starttls = true;
  log.context.action = options.implicitTls ? 'SSL handshaking' : 'in starttls state';
  // Hand over once the reply has been flushed, so that it precedes the handshake on the wire:
  // after the machine's current step (which writes that reply), then at once when nothing is
  // queued (`listen ... ssl`, or a reply the kernel took whole): no empty write per connection.
  queueMicrotask(() =>
    session.enter(() => {
      if (socket.writableLength === 0) handOver(session, endpoint);
      else socket.write('', () => session.enter(() => handOver(session, endpoint)));
    }),
  );
}

function handOver(session: SessionContext, endpoint: TlsEndpoint): void {
  endpoint.handshake(session.socket, {
    secure: (secure) => secured(session, secure),
    failed: (reason) => {
      session.handshaking = false;
      session.options.events?.tlsFailed();
      session.send({ type: 'tls.failed', reason });
    },
  });
}

/** The handshake is done; a session that ended meanwhile drops the TLS socket. */
function secured(session: SessionContext, secure: TLSSocket): void {
  session.handshaking = false;
  if (!session.enter(() => readFrom(session, secure))) secure.destroy();
}

/** From now on the client's bytes come through the TLS socket. */
function readFrom(session: SessionContext, secure: TLSSocket): void {
  const { options, log, facts } = session;
  if (secure.destroyed) {
    // The client left between the handshake and now (a TLS 1.3 server sends its tickets first):
    // there is no session to describe, only a client that closed.
    log.context.action = 'in auth state';
    session.socket.destroy();
    session.send({ type: 'client.closed' });
    return;
  }
  const suite = negotiated(secure);
  facts.tls = negotiatedSession(suite, secure.isSessionReused());
  options.events?.tlsEstablished(facts.tls.version, facts.tls.resumed);
  log.context.action = 'in auth state';
  session.transport = secure;
  attachSession(secure, session);
  secure.on('error', onClientError);
  secure.on('end', onClientGone);
  session.listen(secure);
  session.send({ type: 'tls.established', tls: tlsInfo(secure, session.server.ssl, session.server.authHttpPassClientCert, suite) });
}

/** nginx removes a session whose client certificate it refused, so that resuming cannot skip the check. */
export function forgetTlsSession(session: SessionContext): void {
  const { options, transport, socket } = session;
  if (options.tls !== null && transport !== socket) void options.tls.forgetSession(transport as TLSSocket);
}
