import net from 'node:net';
import type { Protocol } from '../config/types.js';
import { isIPv6 } from 'node:net';
import type { BackendTarget, SmtpBackendDialogue } from '../../machines/types.js';

/** One step of the login dialogue with the backend: what its reply must look like, what we send next. */
interface LoginStep {
  /** 'ok' to go on, 'more' when the reply is not complete yet, 'bad' for an unexpected reply. */
  check(reply: string): 'ok' | 'more' | 'bad';
  /** What to send once the reply checked out (nothing after the last step). */
  send?: () => string;
  /** Last step only: the backend's reply is not for the client (SMTP AUTH, where the proxy says 235). */
  keepReply?: boolean;
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

/** xtext (RFC 1891) as nginx ≥1.29.2 applies it to XCLIENT LOGIN: no byte can end or extend the command. */
export function xtext(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    out += code <= 0x20 || code >= 0x7f || code === 0x2b || code === 0x3d ? `+${code.toString(16).toUpperCase().padStart(2, '0')}` : value[i];
  }
  return out;
}

export function xclientLine(dialogue: SmtpBackendDialogue, login: string): string {
  const addr = isIPv6(dialogue.clientIp) ? `IPV6:${dialogue.clientIp}` : dialogue.clientIp;
  const loginPart = login === '' ? '' : ` LOGIN=${xtext(login)}`;
  return `XCLIENT ADDR=${addr}${loginPart} NAME=${dialogue.clientHost}\r\n`;
}

/** A multi-line SMTP reply is complete at the line whose 4th character is not `-`. */
function smtpReplyComplete(reply: string): boolean {
  const lines = reply.split('\r\n').slice(0, -1);
  const last = lines[lines.length - 1] ?? '';
  return last.length < 4 || last[3] !== '-';
}

/** SMTP replies are judged on their first three characters, as nginx does. */
const smtpCode =
  (...codes: string[]) =>
  (reply: string): 'ok' | 'more' | 'bad' => {
    if (!codes.includes(reply.slice(0, 3))) return 'bad';
    return smtpReplyComplete(reply) ? 'ok' : 'more';
  };

/** `AUTH PLAIN` with an empty authorization identity, as nginx sends it to the backend. */
export function authPlainLine(user: string, password: string): string {
  return `AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`, 'latin1').toString('base64')}\r\n`;
}

/** Raised inside a step when the dialogue cannot go on (nginx logs it and answers 451). */
class SmtpDialogueError extends Error {}

/**
 * SMTP (reference §6.6): greeting, EHLO/HELO with our name, XCLIENT (then the client's own
 * HELO/EHLO again), then for `smtp_auth none` the client's MAIL and RCPT (whose reply the
 * client receives), else with `proxy_smtp_auth` AUTH PLAIN (must be 235), else nothing: the
 * proxy itself answers 235.
 */
function smtpSteps(target: BackendTarget): LoginStep[] {
  const dialogue = target.smtp;
  if (dialogue === undefined) throw new Error('SMTP backend login without its dialogue');
  const hello = (name: string) => `${dialogue.esmtp || dialogue.xclient ? 'EHLO' : 'HELO'} ${name}\r\n`;
  const clientHello = (name: string) => `${dialogue.esmtp ? 'EHLO' : 'HELO'} ${name}\r\n`;
  const steps: LoginStep[] = [{ check: smtpCode('220'), send: () => hello(dialogue.serverName) }];
  const followUps: Array<{ codes: string[]; line: () => string }> = [];
  if (dialogue.xclient) {
    // With proxy_smtp_auth the backend learns the login from AUTH, not from XCLIENT.
    const login = dialogue.proxySmtpAuth ? '' : target.user;
    followUps.push({ codes: ['220', '250'], line: () => xclientLine(dialogue, login) });
    if (dialogue.helo !== '') followUps.push({ codes: ['250'], line: () => clientHello(dialogue.helo) });
  }
  if (dialogue.envelope) {
    const { mail, rcpt } = dialogue.envelope;
    followUps.push({ codes: ['250'], line: () => `${mail}\r\n` });
    followUps.push({ codes: ['250'], line: () => `${rcpt}\r\n` });
  } else if (dialogue.proxySmtpAuth) {
    followUps.push({
      codes: ['235'],
      line: () => {
        if (target.password.length === 0) throw new SmtpDialogueError('no password available');
        return authPlainLine(target.user, target.password.reveal());
      },
    });
  }
  // Each line is sent once the previous reply checked out: the reply to EHLO/HELO must be 250.
  let expect = ['250'];
  for (const followUp of followUps) {
    const codes = expect;
    steps.push({ check: smtpCode(...codes), send: followUp.line });
    expect = followUp.codes;
  }
  if (dialogue.envelope) {
    // The RCPT reply, whatever it says, is relayed to the client.
    steps.push({ check: (reply) => (smtpReplyComplete(reply) ? 'ok' : 'more') });
  } else {
    steps.push({ check: smtpCode(...expect), keepReply: true });
  }
  return steps;
}

export function loginSteps(protocol: Protocol, target: BackendTarget): LoginStep[] {
  switch (protocol) {
    case 'pop3':
      return pop3Steps(target);
    case 'imap':
      return imapSteps(target);
    case 'smtp':
      return smtpSteps(target);
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
        resolve({ socket, firstReply: step.keepReply ? Buffer.alloc(0) : received });
        return;
      }
      received = Buffer.alloc(0);
      let line: string;
      try {
        line = step.send();
      } catch (error) {
        if (!(error instanceof SmtpDialogueError)) throw error;
        fail(new BackendLoginError(`${error.message} while in upstream login, upstream: ${upstream}`));
        return;
      }
      socket.write(line, 'latin1');
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
