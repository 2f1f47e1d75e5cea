import net from 'node:net';
import type { Logger } from '../log.js';
import { errnoText } from '../process/errno.js';
import type { Protocol, ProxySslConfig } from '../config/types.js';
import type { BackendTarget } from '../../machines/types.js';
import { LoginStepError, type LoginStep } from '../protocols/login-step.js';
import { protocolFor } from '../protocols/registry.js';
import { backendTlsFor, type BackendTls } from './backend-tls.js';
import { ReplyBuffer } from './reply-buffer.js';
import { connectPlainBackend, readsIntoChosenBuffers, setBackendConsumer } from './relay-reads.js';
import { forwardClientAddress, type ClientAddressFacts } from './client-address-forward.js';

export class BackendLoginError extends Error {
  /** The backend's unexpected reply, for `proxy_pass_error_message on`. */
  readonly passthrough: string | undefined;
  constructor(message: string, passthrough?: string) {
    super(message);
    this.passthrough = passthrough;
  }
}

export interface BackendSession {
  socket: net.Socket;
  /** The backend's reply to the last login step: the first bytes the client receives. */
  firstReply: Buffer;
}

const printable = (text: string) => JSON.stringify(text.replace(/\r?\n$/, ''));

/** nginx's NGX_MAX_ERROR_STR: what a log line can show of a backend's reply. */
const MAX_ERROR_LINE = 2048;

export interface LoginOptions {
  /** `proxy_buffer`: the longest backend reply during the login. */
  bufferSize: number;
  signal: AbortSignal;
  /** The server's `postern_proxy_ssl*` settings; absent or `off`: plain TCP, as nginx. */
  proxySsl?: ProxySslConfig;
  /** For what the session log should know beyond the outcome (data discarded before TLS). */
  logger?: Logger;
  /** `proxy_protocol`: the PROXY header, written as soon as the connection is made. */
  proxyHeader?: Buffer;
  /** `postern_proxy_forward`: who the client is, for IMAP ID / POP3 XCLIENT. */
  forward?: ClientAddressFacts;
  /** Told each line sent, as it is sent (the session log's `while sending ...`). */
  onSend?: (line: string) => void;
}

/**
 * Connect to the backend the auth service chose and log in there on the client's behalf, running
 * the protocol's login steps (`MailProtocol.backendLogin`, src/protocols/<name>/backend-login.ts). Each
 * reply is read into a buffer of `bufferSize` bytes (`proxy_buffer`), as nginx reads it: complete
 * once at least 4 bytes have arrived and they end in CRLF (and, for SMTP, the last line is not a
 * `250-` one); a reply that fills the buffer first is "too long". With `postern_proxy_ssl` the
 * login runs over TLS; a handshake or verification failure fails the login like a refused connection.
 */
export function loginToBackend(protocol: Protocol, target: BackendTarget, options: LoginOptions): Promise<BackendSession> {
  return new Promise((resolve, reject) => {
    const upstream = `${target.server}:${target.port}`;
    let backendTls: BackendTls | null;
    try {
      backendTls = options.proxySsl === undefined ? null : backendTlsFor(options.proxySsl);
    } catch (error) {
      reject(new BackendLoginError(`${(error as Error).message} while SSL handshaking to upstream`));
      return;
    }
    const script = protocolFor(protocol).backendLogin;
    const plainSteps = options.forward === undefined ? script.steps(target) : forwardClientAddress(protocol, script.steps(target), options.forward);
    const steps = backendTls?.mode === 'starttls' ? script.starttls(target, plainSteps) : plainSteps;
    let socket: net.Socket;
    /** With STARTTLS, the plaintext socket the TLS socket runs over. */
    let beneathTls: net.Socket | undefined;
    const received = new ReplyBuffer(options.bufferSize);
    let stepIndex = 0;
    /** Set while a TLS handshake with the backend runs: errors then are handshake failures. */
    let handshaking = false;
    /**
     * What arrived past a full reply buffer, read again when the next step starts; meanwhile the
     * socket is paused (nginx leaves such bytes in the kernel), so a backend cannot make the login
     * hoard bytes.
     */
    let unread: Buffer | null = null;

    const fail = (error: BackendLoginError) => {
      cleanup();
      // A TLS socket torn down mid-handshake may still report its error: never an uncaught one.
      socket.on('error', () => undefined);
      socket.destroy();
      beneathTls?.destroy();
      reject(error);
    };
    const onAbort = () => fail(new BackendLoginError('aborted'));
    const onError = (error: NodeJS.ErrnoException) => {
      if (handshaking && error.syscall === undefined) {
        fail(new BackendLoginError(`SSL_do_handshake() failed (${tlsReason(error)}) while SSL handshaking to upstream`));
        return;
      }
      // nginx connects without waiting: a refused or failed connection shows at its first recv().
      fail(new BackendLoginError(`${error.syscall === 'write' ? 'send' : 'recv'}() failed ${errnoText(error)} while reading response from upstream`));
    };
    const onEnd = () =>
      fail(new BackendLoginError(`upstream prematurely closed connection while ${handshaking ? 'SSL handshaking to upstream' : 'reading response from upstream'}`));
    const sendNext = (step: LoginStep) => {
      let line: string;
      try {
        line = step.send!();
      } catch (error) {
        if (!(error instanceof LoginStepError)) throw error;
        fail(new BackendLoginError(`${error.message} while reading response from upstream`));
        return;
      }
      options.onSend?.(line);
      socket.write(line, 'latin1');
    };
    const tooLong = () => {
      // nginx prints the buffer but its last byte, and its error lines stop at 2048 bytes.
      const excerpt = received.bytes.subarray(0, Math.min(received.length - 1, MAX_ERROR_LINE)).toString('latin1');
      fail(new BackendLoginError(`upstream sent too long response line: ${JSON.stringify(excerpt)} while reading response from upstream`));
    };
    const onData = (chunk: Buffer) => {
      const past = received.take(chunk);
      if (past.length > 0) {
        socket.pause();
        unread = unread === null ? Buffer.from(past) : Buffer.concat([unread, past]);
      }
      if (!received.endsLine) {
        if (received.full) tooLong();
        return;
      }
      const step = steps[stepIndex]!;
      const reply = received.bytes.toString('latin1');
      const verdict = step.check(reply);
      if (verdict === 'more') {
        // A full buffer that ends a line but not the reply (SMTP `250-` lines): nginx fails it
        // too, silently (its next recv() into no space reads as the end of the connection).
        if (received.full) tooLong();
        return;
      }
      if (verdict === 'bad') {
        // A refused STARTTLS is about the transport, never a mailbox message for the client.
        if (step.upgrade) fail(new BackendLoginError(`upstream refused STARTTLS: ${printable(reply)}`));
        else fail(new BackendLoginError(`upstream sent invalid response: ${printable(reply)} while reading response from upstream`, reply));
        return;
      }
      stepIndex += 1;
      while (steps[stepIndex]?.skip?.()) stepIndex += 1;
      if (step.send === undefined) {
        cleanup();
        socket.pause();
        // What came after the last reply is the client's, first thing in the relay.
        const reply = step.keepReply ? Buffer.alloc(0) : received.bytes;
        resolve({ socket, firstReply: unread === null ? reply : Buffer.concat([reply, unread]) });
        return;
      }
      if (step.upgrade) {
        startTls(step, reply);
        return;
      }
      received.clear();
      sendNext(step);
      socket.resume();
      const held = unread;
      unread = null;
      if (held !== null) onData(held);
    };

    /** Over `plain` (STARTTLS) or on a new connection: the login goes on once the backend is trusted. */
    const secure = (plain: net.Socket | undefined, then: (() => void) | undefined) => {
      const connection = backendTls!.connect({ server: target.server, port: target.port }, plain);
      socket = connection.socket;
      handshaking = true;
      socket.setNoDelay(true);
      socket.on('error', onError);
      socket.on('end', onEnd);
      socket.once('secureConnect', () => {
        handshaking = false;
        const problem = connection.check();
        if (problem !== null) {
          fail(new BackendLoginError(`${problem} while SSL handshaking to upstream`));
          return;
        }
        socket.on('data', onData);
        then?.();
      });
    };

    /**
     * Whatever arrived after the STARTTLS reply, in the same read or still buffered, is dropped
     * before the handshake (CVE-2011-0411 / CVE-2026-1642 class): it never counts as a reply.
     */
    const startTls = (step: LoginStep, reply: string) => {
      const plain = socket;
      beneathTls = plain;
      cleanup();
      plain.pause();
      // The plain socket's own errors now surface on the TLS socket.
      plain.on('error', () => undefined);
      const buffered = (unread?.length ?? 0) + (plain.readableLength > 0 ? (plain.read() as Buffer | null)?.length ?? 0 : 0);
      unread = null;
      const extra = received.length - script.replyLength(reply, target) + buffered;
      if (extra > 0) options.logger?.warn({ bytes: extra }, 'upstream sent data after its STARTTLS reply, discarded');
      received.clear();
      options.signal.addEventListener('abort', onAbort);
      secure(plain, () => sendNext(step));
    };

    function cleanup() {
      options.signal.removeEventListener('abort', onAbort);
      if (readsIntoChosenBuffers(socket)) setBackendConsumer(socket, null);
      else socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
    }

    if (options.signal.aborted) {
      reject(new BackendLoginError('aborted'));
      return;
    }
    // Removed by cleanup() on every way out, so no `{ once: true }` (one more wrapper per login).
    options.signal.addEventListener('abort', onAbort);
    if (backendTls?.mode === 'on' && options.proxyHeader === undefined) {
      secure(undefined, undefined);
      return;
    }
    const tlsFirst = backendTls?.mode === 'on';
    // `noDelay` rather than `setNoDelay()`: set once connected, not before and again after. A
    // backend that stays plaintext reads as relay-reads.ts says; TLS runs over Node's own reads
    // until the relay (which then reads it into chosen buffers too).
    socket =
      backendTls === null
        ? connectPlainBackend({ host: target.server, port: target.port, noDelay: true }, onData)
        : net.connect({ host: target.server, port: target.port, noDelay: !tlsFirst });
    // The PROXY header precedes everything, TLS included (nginx writes it on connect).
    if (options.proxyHeader !== undefined) socket.write(options.proxyHeader);
    if (tlsFirst) {
      const plain = socket;
      plain.on('error', onError);
      plain.once('connect', () => {
        plain.off('error', onError);
        plain.on('error', () => undefined);
        beneathTls = plain;
        secure(plain, undefined);
      });
      return;
    }
    if (!readsIntoChosenBuffers(socket)) socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
  });
}

/** OpenSSL's reason (`SSL: wrong version number`) rather than its multi-line message. */
function tlsReason(error: NodeJS.ErrnoException & { reason?: string }): string {
  return error.reason === undefined ? error.message.split('\n')[0]!.trim() : `SSL: ${error.reason}`;
}
