import type { Socket } from 'node:net';
import { LineReader } from './lines.js';
import type { DemoMessage, DemoStore } from './store.js';

/** DEMO ONLY. A small IMAP4rev1 server over the demo store: one INBOX, read-only in effect. */

const CAPABILITIES = 'IMAP4rev1 LITERAL+ ID ENABLE NAMESPACE UIDPLUS';

/** Split an IMAP command's arguments: atoms, "quoted" strings, literals (framed by NUL) and (lists). */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === ' ') {
      i++;
    } else if (ch === '"') {
      let value = '';
      for (i++; i < text.length && text[i] !== '"'; i++) value += text[i] === '\\' ? text[++i] ?? '' : text[i];
      tokens.push(value);
      i++;
    } else if (ch === '\u0000') {
      const end = text.indexOf('\u0000', i + 1);
      tokens.push(text.slice(i + 1, end));
      i = end + 1;
    } else if (ch === '(') {
      let depth = 0;
      const start = i;
      for (; i < text.length; i++) {
        if (text[i] === '(') depth++;
        if (text[i] === ')' && --depth === 0) break;
      }
      tokens.push(text.slice(start, ++i));
    } else {
      const start = i;
      while (i < text.length && text[i] !== ' ' && text[i] !== '(') i++;
      // Keep `BODY[HEADER.FIELDS (A B)]` together with its bracketed part.
      if (text[i] === '(' && text.slice(start, i).includes('[')) {
        const close = text.indexOf(']', i);
        i = close < 0 ? text.length : close + 1;
      }
      tokens.push(text.slice(start, i));
    }
  }
  return tokens;
}

/** Numbers in an IMAP sequence set (`1:3,5`, `2:*`) among 1..max. */
export function sequenceSet(set: string, max: number): number[] {
  const out = new Set<number>();
  for (const part of set.split(',')) {
    const [a = '', b = a] = part.split(':');
    const from = a === '*' ? max : Number(a);
    const to = b === '*' ? max : Number(b);
    if (!Number.isInteger(from) || !Number.isInteger(to)) continue;
    for (let n = Math.min(from, to); n <= Math.max(from, to) && n <= max; n++) if (n >= 1) out.add(n);
  }
  return [...out].sort((x, y) => x - y);
}

const literal = (text: string) => `{${Buffer.byteLength(text, 'latin1')}}\r\n${text}`;
const headerOf = (m: DemoMessage) => `${m.text.split('\r\n\r\n')[0]}\r\n\r\n`;
const bodyOf = (m: DemoMessage) => m.text.slice(headerOf(m).length);
const field = (m: DemoMessage, name: string) =>
  new RegExp(`^${name}: (.*)$`, 'im').exec(headerOf(m))?.[1]?.trim() ?? '';
const quote = (text: string) => `"${text.replace(/["\\]/g, '\\$&')}"`;

function envelope(m: DemoMessage): string {
  const address = (value: string) => {
    const match = /^(.*?)\s*<([^@>]+)@([^>]+)>$/.exec(value) ?? /^()([^@]+)@(.+)$/.exec(value);
    return match ? `((${match[1] ? quote(match[1]) : 'NIL'} NIL ${quote(match[2]!)} ${quote(match[3]!)}))` : 'NIL';
  };
  const from = address(field(m, 'From'));
  return `(${quote(field(m, 'Date'))} ${quote(field(m, 'Subject'))} ${from} ${from} ${from} ${address(field(m, 'To'))} NIL NIL NIL ${quote(field(m, 'Message-ID'))})`;
}

function fetchItem(item: string, m: DemoMessage, seen: Set<number>): string | null {
  const upper = item.toUpperCase();
  const size = Buffer.byteLength(m.text, 'latin1');
  if (upper === 'UID') return `UID ${m.uid}`;
  if (upper === 'FLAGS') return `FLAGS (${seen.has(m.uid) ? '\\Seen' : ''})`;
  if (upper === 'RFC822.SIZE') return `RFC822.SIZE ${size}`;
  if (upper === 'INTERNALDATE') return 'INTERNALDATE "02-Nov-2026 10:00:00 +0000"';
  if (upper === 'ENVELOPE') return `ENVELOPE ${envelope(m)}`;
  if (upper === 'BODYSTRUCTURE' || upper === 'BODY') {
    const lines = bodyOf(m).split('\r\n').length - 1;
    return `${upper} ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" ${Buffer.byteLength(bodyOf(m), 'latin1')} ${lines})`;
  }
  if (upper === 'RFC822') return `RFC822 ${literal(m.text)}`;
  if (upper === 'RFC822.HEADER') return `RFC822.HEADER ${literal(headerOf(m))}`;
  const section = /^BODY(?:\.PEEK)?\[([^\]]*)\](?:<(\d+)\.(\d+)>)?$/.exec(upper);
  if (!section) return null;
  const [, part = '', offset, count] = section;
  let data = m.text;
  if (part === 'HEADER') data = headerOf(m);
  else if (part === 'TEXT' || part === '1') data = bodyOf(m);
  else if (part.startsWith('HEADER.FIELDS')) {
    const names = /\(([^)]*)\)/.exec(part)?.[1]?.split(' ') ?? [];
    const not = part.startsWith('HEADER.FIELDS.NOT');
    data = headerOf(m)
      .split('\r\n')
      .filter((line) => line !== '' && names.some((n) => line.toUpperCase().startsWith(`${n}:`)) !== not)
      .map((line) => `${line}\r\n`)
      .join('') + '\r\n';
  }
  if (!upper.startsWith('BODY.PEEK')) seen.add(m.uid);
  const name = item.replace(/\.PEEK/i, '').replace(/<.*>$/, '');
  if (offset !== undefined) return `${name}<${offset}> ${literal(data.slice(Number(offset), Number(offset) + Number(count)))}`;
  return `${name} ${literal(data)}`;
}

const MACROS: Record<string, string[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

export function serveImap(socket: Socket, store: DemoStore): void {
  let box: DemoMessage[] | null = null;
  let selected = false;
  const seen = new Set<number>();
  const send = (text: string) => socket.write(`${text}\r\n`, 'latin1');

  const fetch = (tag: string, set: string, itemsText: string, byUid: boolean) => {
    const messages = box ?? [];
    const items = itemsText.startsWith('(') ? tokenize(itemsText.slice(1, -1)) : (MACROS[itemsText.toUpperCase()] ?? [itemsText]);
    if (byUid && !items.some((i) => i.toUpperCase() === 'UID')) items.unshift('UID');
    const numbers = byUid
      ? sequenceSet(set, messages.at(-1)?.uid ?? 0).map((uid) => messages.findIndex((m) => m.uid === uid) + 1).filter((n) => n > 0)
      : sequenceSet(set, messages.length);
    for (const n of numbers) {
      const parts = items.map((item) => fetchItem(item, messages[n - 1]!, seen));
      if (parts.includes(null)) return send(`${tag} BAD unknown fetch item`);
      send(`* ${n} FETCH (${parts.join(' ')})`);
    }
    send(`${tag} OK FETCH completed`);
  };

  send(`* OK [CAPABILITY ${CAPABILITIES}] Postern DEMO mailbox (IMAP) ready`);
  new LineReader(
    socket,
    (line) => {
      const [tag = '*', verb = '', ...rest] = tokenize(line);
      let command = verb.toUpperCase();
      let args = rest;
      const byUid = command === 'UID';
      if (byUid) {
        command = (args[0] ?? '').toUpperCase();
        args = args.slice(1);
      }
      switch (command) {
        case 'CAPABILITY':
          send(`* CAPABILITY ${CAPABILITIES}`);
          return send(`${tag} OK CAPABILITY completed`);
        case 'NOOP':
        case 'CHECK':
          return send(`${tag} OK ${command} completed`);
        case 'LOGOUT':
          send('* BYE Postern demo mailbox signing off');
          send(`${tag} OK LOGOUT completed`);
          socket.end();
          return;
        case 'ID':
          send('* ID ("name" "Postern demo mailbox")');
          return send(`${tag} OK ID completed`);
        case 'LOGIN':
          if (!store.check(args[0] ?? '', args[1] ?? '')) return send(`${tag} NO [AUTHENTICATIONFAILED] invalid login or password`);
          box = store.mailbox(args[0] ?? '');
          return send(`${tag} OK [CAPABILITY ${CAPABILITIES}] demo mailbox ready`);
      }
      if (box === null) return send(`${tag} BAD log in first`);
      switch (command) {
        case 'ENABLE':
          send('* ENABLED');
          return send(`${tag} OK ENABLE completed`);
        case 'NAMESPACE':
          send('* NAMESPACE (("" "/")) NIL NIL');
          return send(`${tag} OK NAMESPACE completed`);
        case 'LIST':
        case 'LSUB':
          if ((args[1] ?? '') !== '') send(`* ${command} (\\HasNoChildren) "/" INBOX`);
          else send(`* ${command} (\\Noselect) "/" ""`);
          return send(`${tag} OK ${command} completed`);
        case 'STATUS':
          send(`* STATUS INBOX (MESSAGES ${box.length} UIDNEXT ${box.length + 1} UIDVALIDITY 1 UNSEEN ${box.length - seen.size})`);
          return send(`${tag} OK STATUS completed`);
        case 'SELECT':
        case 'EXAMINE':
          if ((args[0] ?? '').toUpperCase() !== 'INBOX') return send(`${tag} NO no such mailbox`);
          selected = true;
          send(`* ${box.length} EXISTS`);
          send('* 0 RECENT');
          send('* FLAGS (\\Seen \\Deleted)');
          send('* OK [PERMANENTFLAGS ()] read-only demo');
          send('* OK [UIDVALIDITY 1] UIDs valid');
          send(`* OK [UIDNEXT ${box.length + 1}] next UID`);
          return send(`${tag} OK [${command === 'SELECT' ? 'READ-WRITE' : 'READ-ONLY'}] ${command} completed`);
      }
      if (!selected) return send(`${tag} BAD select a mailbox first`);
      switch (command) {
        case 'FETCH':
          return fetch(tag, args[0] ?? '', args.slice(1).join(' '), byUid);
        case 'SEARCH':
          send(`* SEARCH ${box.map((m, i) => (byUid ? m.uid : i + 1)).join(' ')}`.trimEnd());
          return send(`${tag} OK SEARCH completed`);
        case 'STORE':
        case 'EXPUNGE':
        case 'CLOSE':
        case 'UNSELECT':
          if (command === 'CLOSE' || command === 'UNSELECT') selected = false;
          return send(`${tag} OK ${command} completed`);
        default:
          return send(`${tag} BAD unknown command`);
      }
    },
    () => send('+ go ahead'),
  );
}
