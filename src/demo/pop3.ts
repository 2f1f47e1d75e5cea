import type { Socket } from 'node:net';
import { CommandReader } from './lines.js';
import { bodyOf, headerOf, type DemoMessage, type DemoStore } from './store.js';

/**
 * DEMO ONLY — a minimal POP3 server (RFC 1939 + CAPA) over the demo store: USER/PASS, STAT,
 * LIST, UIDL, RETR, TOP, DELE (marks for this session only: QUIT deletes nothing), RSET, NOOP,
 * QUIT, CAPA. Not a mail server.
 */

export const POP3_GREETING = '+OK Postern DEMO mailbox (in-memory POP3, not a real mail server) ready';
const MAX_LINE = 1024;
const CAPABILITIES = ['USER', 'UIDL', 'TOP', 'RESP-CODES', 'PIPELINING', 'IMPLEMENTATION Postern-DEMO'];

/** Dot-stuff a message for a multi-line reply and terminate it. */
export function dotStuff(raw: string): string {
  const text = raw.endsWith('\r\n') ? raw : `${raw}\r\n`;
  return `${text.replace(/^\./gm, '..')}.\r\n`;
}

export function servePop3(socket: Socket, store: DemoStore): void {
  let user: string | undefined;
  let box: DemoMessage[] | undefined;
  const deleted = new Set<number>();
  const send = (text: string) => {
    if (!socket.destroyed) socket.write(text, 'latin1');
  };
  const ok = (text = '') => send(`+OK${text === '' ? '' : ` ${text}`}\r\n`);
  const err = (text: string) => send(`-ERR ${text}\r\n`);

  /** Message by its number; undefined (after answering -ERR) when there is none. */
  const message = (arg: string | undefined): DemoMessage | undefined => {
    const n = arg !== undefined && /^\d{1,9}$/.test(arg) ? Number(arg) : 0;
    const found = box?.[n - 1];
    if (found === undefined) err('no such message');
    else if (deleted.has(n)) err(`message ${n} already deleted`);
    else return found;
    return undefined;
  };
  const live = () => (box ?? []).map((m, i) => ({ m, n: i + 1 })).filter(({ n }) => !deleted.has(n));

  const reader = new CommandReader(socket, {
    maxLine: MAX_LINE,
    onOverflow: () => {
      err('line too long');
      socket.end();
    },
    onError: () => err('internal error of the demo mailbox'),
    onCommand: ([line = '']) => {
      const space = line.indexOf(' ');
      const command = (space < 0 ? line : line.slice(0, space)).toUpperCase();
      const rest = space < 0 ? '' : line.slice(space + 1);
      const args = rest.split(' ').filter((a) => a !== '');
      switch (command) {
        case 'QUIT':
          reader.stop();
          send('+OK Postern demo mailbox signing off (demo: nothing was deleted)\r\n');
          socket.end();
          return;
        case 'CAPA':
          return send(['+OK Capability list follows', ...CAPABILITIES, '.', ''].join('\r\n'));
        case 'NOOP':
          return box === undefined ? err('not logged in') : ok();
      }
      if (box === undefined) {
        if (command === 'USER' && rest !== '') {
          user = rest;
          return ok('send PASS');
        }
        if (command === 'PASS' && user !== undefined) {
          box = store.login(user, rest);
          user = box === undefined ? undefined : user;
          return box === undefined ? err('[AUTH] Invalid login or password') : ok(`demo mailbox of ${user} has ${box.length} messages`);
        }
        return err(command === 'PASS' ? 'send USER first' : 'not logged in');
      }
      switch (command) {
        case 'STAT': {
          const messages = live();
          return ok(`${messages.length} ${messages.reduce((sum, { m }) => sum + m.raw.length, 0)}`);
        }
        case 'LIST':
        case 'UIDL': {
          const value = (m: DemoMessage) => (command === 'LIST' ? String(m.raw.length) : `demo-${m.uid}`);
          if (args[0] !== undefined) {
            const m = message(args[0]);
            return m === undefined ? undefined : ok(`${Number(args[0])} ${value(m)}`);
          }
          const lines = live().map(({ m, n }) => `${n} ${value(m)}\r\n`);
          return send(`+OK ${lines.length} messages\r\n${lines.join('')}.\r\n`);
        }
        case 'RETR': {
          const m = message(args[0]);
          return m === undefined ? undefined : send(`+OK ${m.raw.length} octets\r\n${dotStuff(m.raw)}`);
        }
        case 'TOP': {
          if (args[1] === undefined || !/^\d{1,9}$/.test(args[1])) return err('usage: TOP message lines');
          const m = message(args[0]);
          if (m === undefined) return;
          const text = bodyOf(m.raw).replace(/\r\n$/, '');
          const body = text === '' ? [] : text.split('\r\n').slice(0, Number(args[1]));
          const top = headerOf(m.raw) + body.map((l) => `${l}\r\n`).join('');
          return send(`+OK top of message follows\r\n${dotStuff(top)}`);
        }
        case 'DELE': {
          const m = message(args[0]);
          if (m === undefined) return;
          deleted.add(Number(args[0]));
          return ok(`message ${Number(args[0])} marked (demo: kept after QUIT)`);
        }
        case 'RSET':
          deleted.clear();
          return ok();
        case 'USER':
        case 'PASS':
          return err('already logged in');
        default:
          return err('unknown command');
      }
    },
  });
  send(`${POP3_GREETING}\r\n`);
}
