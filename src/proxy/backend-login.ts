import net from 'node:net';
import type { Protocol } from '../config/types.js';
import type { BackendTarget } from '../../machines/types.js';

/** One step of the login dialogue with the backend: what its reply must look like, what we send next. */
interface LoginStep {
  /** 'ok' to go on, 'more' when the reply is not complete yet, 'bad' for an unexpected reply. */
  check(reply: string): 'ok' | 'more' | 'bad';
  /** What to send once the reply checked out (nothing after the last step). */
  send?: () => string;
}

const startsWith = (prefix: string) => (reply: string) => (reply.startsWith(prefix) ? 'ok' : 'bad');

/** POP3: USER/PASS whatever the client used; the PASS reply is what the client sees first. */
function pop3Steps(target: BackendTarget): LoginStep[] {
  return [
    { check: startsWith('+OK'), send: () => `USER ${target.user}\r\n` },
    { check: startsWith('+OK'), send: () => `PASS ${target.password.reveal()}\r\n` },
    { check: startsWith('+OK') },
  ];
}

/**
 * IMAP: LOGIN with synchronising literals for both user and password, reusing the client's tag.
 * Like current nginx (1.27.3+), one untagged line (e.g. `* CAPABILITY`) may precede the tagged OK.
 */
function imapSteps(target: BackendTarget): LoginStep[] {
  const tag = target.tag ?? '';
  const taggedOk = `${tag} OK`;
  return [
    { check: startsWith('* OK'), send: () => `${tag} LOGIN {${target.user.length}}\r\n` },
    { check: startsWith('+'), send: () => `${target.user} {${target.password.length}}\r\n` },
    { check: startsWith('+'), send: () => `${target.password.reveal()}\r\n` },
    {
      check: (reply) => {
        if (reply.startsWith(taggedOk)) return 'ok';
        if (!reply.startsWith('* ')) return 'bad';
        const rest = reply.slice(reply.indexOf('\n') + 1);
        if (rest === '') return 'more';
        return rest.startsWith(taggedOk) ? 'ok' : 'bad';
      },
    },
  ];
}

export function loginSteps(protocol: Protocol, target: BackendTarget): LoginStep[] {
  switch (protocol) {
    case 'pop3':
      return pop3Steps(target);
    case 'imap':
      return imapSteps(target);
    case 'smtp':
      throw new Error('SMTP backend login is not supported yet');
  }
}

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

/**
 * Connect to the backend the auth service chose and log in there on the client's behalf. A reply
 * is complete once at least 4 bytes have arrived and they end in CRLF (as nginx reads them); a
 * reply that fills `bufferSize` without that is "too long".
 */
export function loginToBackend(
  protocol: Protocol,
  target: BackendTarget,
  options: { bufferSize: number; signal: AbortSignal },
): Promise<BackendSession> {
  const steps = loginSteps(protocol, target);
  return new Promise((resolve, reject) => {
    const upstream = `${target.server}:${target.port}`;
    const socket = net.connect({ host: target.server, port: target.port });
    socket.setNoDelay(true);
    let received = Buffer.alloc(0);
    let stepIndex = 0;

    const fail = (error: BackendLoginError) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onAbort = () => fail(new BackendLoginError('aborted'));
    const onError = (error: NodeJS.ErrnoException) =>
      fail(new BackendLoginError(`${error.syscall ?? 'socket'}() failed (${error.code ?? error.message}) while in upstream login, upstream: ${upstream}`));
    const onEnd = () => fail(new BackendLoginError(`upstream prematurely closed connection while in upstream login, upstream: ${upstream}`));
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received[received.length - 2] !== 0x0d || received[received.length - 1] !== 0x0a) {
        if (received.length >= options.bufferSize) fail(new BackendLoginError(`upstream sent too long response line, upstream: ${upstream}`));
        return;
      }
      const step = steps[stepIndex]!;
      const reply = received.toString('latin1');
      const verdict = step.check(reply);
      if (verdict === 'more') return;
      if (verdict === 'bad') {
        fail(new BackendLoginError(`upstream sent invalid response: ${printable(reply)}, upstream: ${upstream}`, reply));
        return;
      }
      stepIndex += 1;
      if (step.send === undefined) {
        cleanup();
        socket.pause();
        resolve({ socket, firstReply: received });
        return;
      }
      received = Buffer.alloc(0);
      socket.write(step.send(), 'latin1');
    };
    function cleanup() {
      options.signal.removeEventListener('abort', onAbort);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
    }

    if (options.signal.aborted) {
      onAbort();
      return;
    }
    options.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
  });
}
