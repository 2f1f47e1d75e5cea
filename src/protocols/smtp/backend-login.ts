import { isIPv6 } from 'node:net';
import type { BackendTarget, SmtpBackendDialogue } from '../../../machines/types.js';
import { lengthThroughLine, LoginStepError, resumeAfterUpgrade, upgradeAfterGreeting, type BackendLoginScript, type LoginStep } from '../login-step.js';

/** xtext (RFC 1891) as nginx ≥1.29.2 applies it to XCLIENT LOGIN: no byte can end or extend the command. */
function xtext(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    out += code <= 0x20 || code >= 0x7f || code === 0x2b || code === 0x3d ? `+${code.toString(16).toUpperCase().padStart(2, '0')}` : value[i];
  }
  return out;
}

function xclientLine(dialogue: SmtpBackendDialogue, login: string): string {
  const addr = isIPv6(dialogue.clientIp) ? `IPV6:${dialogue.clientIp}` : dialogue.clientIp;
  const loginPart = login === '' ? '' : ` LOGIN=${xtext(login)}`;
  return `XCLIENT ADDR=${addr}${loginPart} NAME=${dialogue.clientHost}\r\n`;
}

/** A multi-line SMTP reply is complete at the line whose 4th character is not `-`. */
function replyComplete(reply: string): boolean {
  const lines = reply.split('\r\n').slice(0, -1);
  const last = lines[lines.length - 1] ?? '';
  return last.length < 4 || last[3] !== '-';
}

/** SMTP replies are judged on their first three characters, as nginx does. */
const replyCode =
  (...codes: string[]) =>
  (reply: string): 'ok' | 'more' | 'bad' => {
    if (!codes.includes(reply.slice(0, 3))) return 'bad';
    return replyComplete(reply) ? 'ok' : 'more';
  };

/** `AUTH PLAIN` with an empty authorization identity, as nginx sends it to the backend. */
function authPlainLine(user: string, password: string): string {
  return `AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`, 'latin1').toString('base64')}\r\n`;
}

/**
 * SMTP (nginx: ngx_mail_proxy_smtp_handler): greeting, EHLO/HELO with our name, XCLIENT (then
 * the client's own HELO/EHLO again), then for `smtp_auth none` the client's MAIL and RCPT (whose
 * reply the client receives), else with `proxy_smtp_auth` AUTH PLAIN (must be 235), else
 * nothing: the proxy itself answers 235.
 */
function steps(target: BackendTarget): LoginStep[] {
  const dialogue = target.smtp;
  if (dialogue === undefined) throw new Error('SMTP backend login without its dialogue');
  const hello = (name: string) => `${dialogue.esmtp || dialogue.xclient ? 'EHLO' : 'HELO'} ${name}\r\n`;
  const clientHello = (name: string) => `${dialogue.esmtp ? 'EHLO' : 'HELO'} ${name}\r\n`;
  const result: LoginStep[] = [{ check: replyCode('220'), send: () => hello(dialogue.serverName) }];
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
        if (target.password.length === 0) throw new LoginStepError('no password available');
        return authPlainLine(target.user, target.password.reveal());
      },
    });
  }
  // Each line is sent once the previous reply checked out: the reply to EHLO/HELO must be 250.
  let expect = ['250'];
  for (const followUp of followUps) {
    result.push({ check: replyCode(...expect), send: followUp.line });
    expect = followUp.codes;
  }
  if (dialogue.envelope) {
    // The RCPT reply, whatever it says, is relayed to the client.
    result.push({ check: (reply) => (replyComplete(reply) ? 'ok' : 'more') });
  } else {
    result.push({ check: replyCode(...expect), keepReply: true });
  }
  return result;
}

export const smtpBackendLogin: BackendLoginScript = {
  steps,
  // EHLO, then STARTTLS; after the handshake, EHLO again.
  starttls: (target, plain) =>
    upgradeAfterGreeting(plain, (greeting) => [
      { check: greeting.check, send: () => `EHLO ${target.smtp?.serverName ?? ''}\r\n` },
      { check: replyCode('250'), send: () => 'STARTTLS\r\n' },
      resumeAfterUpgrade(greeting, replyCode('220')),
    ]),
  replyLength: (reply) => lengthThroughLine(reply, (line) => line[3] !== '-'),
};
