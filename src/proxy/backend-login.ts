import net from 'node:net';
import type { Logger } from '../log.js';
import type { Protocol, ProxySslConfig } from '../config/types.js';
import { isIPv6 } from 'node:net';
import type { BackendTarget, SmtpBackendDialogue } from '../../machines/types.js';
import { backendTlsFor, type BackendTls } from './backend-tls.js';
import { ReplyBuffer } from './reply-buffer.js';

/** One step of the login dialogue with the backend: what its reply must look like, what we send next. */
interface LoginStep {
  /** 'ok' to go on, 'more' when the reply is not complete yet, 'bad' for an unexpected reply. */
  check(reply: string): 'ok' | 'more' | 'bad';
  /** What to send once the reply checked out (nothing after the last step). */
  send?: () => string;
  /** Last step only: the backend's reply is not for the client (SMTP AUTH, where the proxy says 235). */
  keepReply?: boolean;
  /** The reply to STARTTLS/STLS: once it checked out, TLS starts, then `send` goes over TLS. */
  upgrade?: boolean;
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
  return [
    { check: startsWith('* OK'), send: () => `${tag} LOGIN {${target.user.length}}\r\n` },
    { check: startsWith('+'), send: () => `${target.user} {${target.password.length}}\r\n` },
    { check: startsWith('+'), send: () => `${target.password.reveal()}\r\n` },
    { check: imapTaggedOk(tag) },
  ];
}

/** `<tag> OK`, after at most one untagged line. */
const imapTaggedOk =
  (tag: string) =>
  (reply: string): 'ok' | 'more' | 'bad' => {
    const taggedOk = `${tag} OK`;
    if (reply.startsWith(taggedOk)) return 'ok';
    if (!reply.startsWith('* ')) return 'bad';
    const rest = reply.slice(reply.indexOf('\n') + 1);
    if (rest === '') return 'more';
    return rest.startsWith(taggedOk) ? 'ok' : 'bad';
  };

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
 * SMTP (nginx: src/mail/ngx_mail_proxy_module.c, ngx_mail_proxy_smtp_handler): greeting, EHLO/HELO with our name, XCLIENT (then the client's own
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

function plainSteps(protocol: Protocol, target: BackendTarget): LoginStep[] {
  switch (protocol) {
    case 'pop3':
      return pop3Steps(target);
    case 'imap':
      return imapSteps(target);
    case 'smtp':
      return smtpSteps(target);
  }
}

/**
 * `postern_proxy_ssl starttls`: after the greeting, STLS (POP3), `<tag> STARTTLS` (IMAP, the
 * client's tag as for LOGIN) or EHLO then STARTTLS (SMTP); once the backend agrees, TLS, and the
 * plaintext dialogue starts over from what follows the greeting (SMTP: EHLO again).
 */
function starttlsSteps(protocol: Protocol, target: BackendTarget, steps: LoginStep[]): LoginStep[] {
  const [greeting, ...rest] = steps as [LoginStep, ...LoginStep[]];
  const resume = (check: LoginStep['check']): LoginStep => ({ check, upgrade: true, ...(greeting.send ? { send: greeting.send } : {}) });
  switch (protocol) {
    case 'pop3':
      return [{ check: greeting.check, send: () => 'STLS\r\n' }, resume(startsWith('+OK')), ...rest];
    case 'imap': {
      const tag = target.tag ?? '';
      return [{ check: greeting.check, send: () => `${tag} STARTTLS\r\n` }, resume(imapTaggedOk(tag)), ...rest];
    }
    case 'smtp':
      return [
        { check: greeting.check, send: () => `EHLO ${target.smtp?.serverName ?? ''}\r\n` },
        { check: smtpCode('250'), send: () => 'STARTTLS\r\n' },
        resume(smtpCode('220')),
        ...rest,
      ];
  }
}

export function loginSteps(protocol: Protocol, target: BackendTarget, starttls = false): LoginStep[] {
  const steps = plainSteps(protocol, target);
  return starttls ? starttlsSteps(protocol, target, steps) : steps;
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
}

/**
 * Connect to the backend the auth service chose and log in there on the client's behalf. Each
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
      reject(new BackendLoginError(`${(error as Error).message} while SSL handshaking to upstream, upstream: ${upstream}`));
      return;
    }
    const steps = loginSteps(protocol, target, backendTls?.mode === 'starttls');
    let socket: net.Socket;
    /** With STARTTLS, the plaintext socket the TLS socket runs over. */
    let beneathTls: net.Socket | undefined;
    const received = new ReplyBuffer(options.bufferSize);
    let stepIndex = 0;
    /** Set while a TLS handshake with the backend runs: errors then are handshake failures. */
    let handshaking = false;

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
        fail(new BackendLoginError(`SSL_do_handshake() failed (${tlsReason(error)}) while SSL handshaking to upstream, upstream: ${upstream}`));
        return;
      }
      fail(new BackendLoginError(`${error.syscall ?? 'socket'}() failed (${error.code ?? error.message}) while in upstream login, upstream: ${upstream}`));
    };
    const onEnd = () =>
      fail(new BackendLoginError(`upstream prematurely closed connection while ${handshaking ? 'SSL handshaking to upstream' : 'in upstream login'}, upstream: ${upstream}`));
    const sendNext = (step: LoginStep) => {
      let line: string;
      try {
        line = step.send!();
      } catch (error) {
        if (!(error instanceof SmtpDialogueError)) throw error;
        fail(new BackendLoginError(`${error.message} while in upstream login, upstream: ${upstream}`));
        return;
      }
      socket.write(line, 'latin1');
    };
    const tooLong = () => {
      // nginx prints the buffer but its last byte, and its error lines stop at 2048 bytes.
      const excerpt = received.bytes.subarray(0, Math.min(received.length - 1, MAX_ERROR_LINE)).toString('latin1');
      fail(new BackendLoginError(`upstream sent too long response line: ${JSON.stringify(excerpt)}, upstream: ${upstream}`));
    };
    const onData = (chunk: Buffer) => {
      const unread = received.take(chunk);
      if (unread.length > 0) {
        // What does not fit waits in the paused socket (nginx leaves it in the kernel), which
        // stops reading once its own buffer is full: a backend cannot make the login hoard bytes.
        socket.pause();
        socket.unshift(unread);
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
        if (step.upgrade) fail(new BackendLoginError(`upstream refused STARTTLS: ${printable(reply)}, upstream: ${upstream}`));
        else fail(new BackendLoginError(`upstream sent invalid response: ${printable(reply)}, upstream: ${upstream}`, reply));
        return;
      }
      stepIndex += 1;
      if (step.send === undefined) {
        cleanup();
        socket.pause();
        resolve({ socket, firstReply: step.keepReply ? Buffer.alloc(0) : received.bytes });
        return;
      }
      if (step.upgrade) {
        startTls(step, reply);
        return;
      }
      received.clear();
      sendNext(step);
      socket.resume();
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
          fail(new BackendLoginError(`${problem} while SSL handshaking to upstream, upstream: ${upstream}`));
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
      const buffered = plain.readableLength > 0 ? (plain.read() as Buffer | null)?.length ?? 0 : 0;
      const extra = received.length - replyLength(protocol, reply, target.tag ?? '') + buffered;
      if (extra > 0) options.logger?.warn({ upstream, bytes: extra }, 'upstream sent data after its STARTTLS reply, discarded');
      received.clear();
      options.signal.addEventListener('abort', onAbort, { once: true });
      secure(plain, () => sendNext(step));
    };

    function cleanup() {
      options.signal.removeEventListener('abort', onAbort);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
    }

    if (options.signal.aborted) {
      reject(new BackendLoginError('aborted'));
      return;
    }
    options.signal.addEventListener('abort', onAbort, { once: true });
    if (backendTls?.mode === 'on') {
      secure(undefined, undefined);
      return;
    }
    socket = net.connect({ host: target.server, port: target.port });
    socket.setNoDelay(true);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
  });
}

/** OpenSSL's reason (`SSL: wrong version number`) rather than its multi-line message. */
function tlsReason(error: NodeJS.ErrnoException & { reason?: string }): string {
  return error.reason === undefined ? error.message.split('\n')[0]!.trim() : `SSL: ${error.reason}`;
}

/** Bytes of the STARTTLS reply proper: its first line (IMAP: up to the tagged line; SMTP: the last line). */
function replyLength(protocol: Protocol, reply: string, tag: string): number {
  let start = 0;
  for (;;) {
    const end = reply.indexOf('\r\n', start);
    if (end < 0) return reply.length;
    const line = reply.slice(start, end);
    const last = protocol === 'pop3' || (protocol === 'imap' ? line.startsWith(`${tag} `) : line[3] !== '-');
    if (last) return end + 2;
    start = end + 2;
  }
}
