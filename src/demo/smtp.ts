import type { Socket } from 'node:net';
import { CommandReader } from './lines.js';
import type { DemoStore } from './store.js';

/**
 * DEMO ONLY — a minimal SMTP server (RFC 5321) over the demo store, the backend of the embedded
 * default's SMTP listener: EHLO/HELO, XCLIENT (what the proxy says about its client), MAIL,
 * RCPT (a demo user's address: `demo@anything`), DATA, RSET, NOOP, QUIT. A message is
 * "delivered" by appending it to each recipient's demo INBOX, in memory; nothing is relayed
 * anywhere. It says DEMO in its greeting. Not a mail server.
 */

export const SMTP_GREETING = '220 localhost ESMTP Postern DEMO mailbox (in-memory, delivers only to demo users, not a real mail server)';
const MAX_LINE = 4096;
/** Bytes of one message (advertised as SIZE) and recipients of one transaction. */
export const MAX_MESSAGE = 1024 * 1024;
const MAX_RECIPIENTS = 20;

/** `<local@domain>` of MAIL FROM:/RCPT TO: (parameters after it ignored); null when malformed. */
function pathOf(argument: string, keyword: 'FROM' | 'TO'): string | null {
  const match = new RegExp(`^${keyword}:\\s*<([^<>\\s]*)>`, 'i').exec(argument);
  return match ? match[1]! : null;
}

export function serveSmtp(socket: Socket, store: DemoStore): void {
  let greeted = false;
  let from: string | null = null;
  let recipients: string[] = [];
  /** The message being received after DATA (lines, dot-unstuffed), else null. */
  let data: string[] | null = null;
  let size = 0;
  const send = (line: string) => {
    if (!socket.destroyed) socket.write(`${line}\r\n`, 'latin1');
  };
  const reset = () => {
    from = null;
    recipients = [];
    data = null;
    size = 0;
  };

  const endOfData = () => {
    const lines = data!;
    const tooBig = size > MAX_MESSAGE;
    const to = recipients;
    reset();
    if (tooBig) return send(`552 5.3.4 message bigger than ${MAX_MESSAGE} bytes`);
    const raw = `${lines.join('\r\n')}\r\n`;
    for (const user of to) store.deliver(user, raw);
    send(`250 2.0.0 Ok: delivered to the DEMO INBOX of ${to.join(', ')}`);
  };

  const command = (line: string) => {
    const space = line.indexOf(' ');
    const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
    const argument = space < 0 ? '' : line.slice(space + 1).trim();
    switch (verb) {
      case 'EHLO':
        greeted = true;
        reset();
        return send(`250-localhost Postern DEMO\r\n250-XCLIENT ADDR LOGIN NAME HELO\r\n250-8BITMIME\r\n250 SIZE ${MAX_MESSAGE}`);
      case 'HELO':
        greeted = true;
        reset();
        return send('250 localhost Postern DEMO');
      case 'XCLIENT':
        // The proxy's word about its client (ADDR, LOGIN...): a new session starts, greeting again.
        reset();
        greeted = false;
        return send(SMTP_GREETING);
      case 'MAIL': {
        if (!greeted) return send('503 5.5.1 EHLO or HELO first');
        if (from !== null) return send('503 5.5.1 nested MAIL command');
        const path = pathOf(argument, 'FROM');
        if (path === null) return send('501 5.5.4 syntax: MAIL FROM:<address>');
        from = path;
        return send('250 2.1.0 Ok');
      }
      case 'RCPT': {
        if (from === null) return send('503 5.5.1 MAIL first');
        const path = pathOf(argument, 'TO');
        if (path === null) return send('501 5.5.4 syntax: RCPT TO:<address>');
        const user = path.slice(0, path.lastIndexOf('@') < 0 ? path.length : path.lastIndexOf('@'));
        if (!store.hasUser(user)) return send(`550 5.1.1 <${path}>: no such DEMO user`);
        if (recipients.length >= MAX_RECIPIENTS) return send('452 4.5.3 too many recipients');
        if (!recipients.includes(user)) recipients.push(user);
        return send('250 2.1.5 Ok');
      }
      case 'DATA':
        if (argument !== '') return send('501 5.5.4 syntax: DATA');
        if (recipients.length === 0) return send('503 5.5.1 RCPT first');
        data = [];
        return send('354 End data with <CR><LF>.<CR><LF>');
      case 'RSET':
        reset();
        return send('250 2.0.0 Ok');
      case 'NOOP':
        return send('250 2.0.0 Ok');
      case 'QUIT':
        reader.stop();
        send('221 2.0.0 Postern DEMO mailbox closing');
        socket.end();
        return;
      default:
        return send('502 5.5.2 command not recognised by the DEMO mailbox');
    }
  };

  const reader = new CommandReader(socket, {
    maxLine: MAX_LINE,
    onOverflow: () => {
      send('500 5.5.2 line too long');
      socket.end();
    },
    onError: () => send('451 4.3.0 internal error of the demo mailbox'),
    onCommand: ([line = '']) => {
      if (data === null) return command(line);
      if (line === '.') return endOfData();
      const text = line.startsWith('.') ? line.slice(1) : line;
      size += text.length + 2;
      // Past the limit the lines are counted, not kept: the client gets 552 at the end.
      if (size <= MAX_MESSAGE) data.push(text);
    },
  });
  send(SMTP_GREETING);
}
