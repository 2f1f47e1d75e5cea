import type { Socket } from 'node:net';
import { CommandReader } from './lines.js';
import { bodyOf, headerField, headerOf, type DemoMessage, type DemoStore } from './store.js';

/**
 * DEMO ONLY — a small IMAP4rev1 server over the demo store, enough for curl, Python's imaplib and
 * imapflow: CAPABILITY, ID, ENABLE, NAMESPACE, LOGIN (atoms, quoted strings, `{n}`/`{n+}`
 * literals), LOGOUT, NOOP, CHECK, LIST/LSUB, STATUS, SELECT/EXAMINE (one INBOX), FETCH, SEARCH,
 * STORE (flags in memory), CLOSE/UNSELECT, EXPUNGE (removes nothing), and their UID forms.
 * Anything else is `BAD`. Not a mail server.
 */

export const IMAP_CAPABILITIES = 'IMAP4rev1 LITERAL+ ID ENABLE NAMESPACE UNSELECT';
export const IMAP_GREETING = `* OK [CAPABILITY ${IMAP_CAPABILITIES}] Postern DEMO mailbox (in-memory IMAP, not a real mail server) ready`;
const MAX_LINE = 8192;
const MAX_LITERAL = 65536;
const UIDVALIDITY = 1;
const FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

/** An argument: an atom, quoted string or literal (as text), or a parenthesised list. */
export type Token = string | Token[];

/**
 * Split a command (its text parts and literals, see CommandReader) into tokens. Atoms keep a
 * bracketed section whole (`BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>`). Throws on bad syntax.
 */
export function tokenize(parts: readonly string[]): Token[] {
  const top: Token[] = [];
  const stack: Token[][] = [top];
  const current = () => stack[stack.length - 1]!;
  parts.forEach((part, index) => {
    if (index % 2 === 1) {
      current().push(part);
      return;
    }
    let i = 0;
    while (i < part.length) {
      const ch = part[i]!;
      if (ch === ' ') {
        i++;
      } else if (ch === '(') {
        const list: Token[] = [];
        current().push(list);
        stack.push(list);
        i++;
      } else if (ch === ')') {
        if (stack.length === 1) throw new Error('unbalanced )');
        stack.pop();
        i++;
      } else if (ch === '"') {
        let value = '';
        for (i++; ; i++) {
          if (i >= part.length) throw new Error('unterminated quoted string');
          if (part[i] === '"') break;
          if (part[i] === '\\') i++;
          value += part[i] ?? '';
        }
        current().push(value);
        i++;
      } else {
        const start = i;
        let depth = 0;
        for (; i < part.length; i++) {
          const c = part[i]!;
          if (c === '[') depth++;
          else if (c === ']') depth = Math.max(0, depth - 1);
          else if (depth === 0 && (c === ' ' || c === '(' || c === ')')) break;
        }
        current().push(part.slice(start, i));
      }
    }
  });
  if (stack.length !== 1) throw new Error('unbalanced (');
  return top;
}

/**
 * The members of an IMAP sequence set (`1:3,5`, `2:*`, `*`) among 1..max, ascending;
 * undefined when the set is malformed.
 */
export function sequenceSet(set: string, max: number): number[] | undefined {
  const out = new Set<number>();
  for (const range of set.split(',')) {
    const match = /^(\d{1,10}|\*)(?::(\d{1,10}|\*))?$/.exec(range);
    if (!match) return undefined;
    if (/^0+$/.test(match[1]!) || /^0+$/.test(match[2] ?? '1')) return undefined;
    const [a, b] = [match[1]!, match[2] ?? match[1]!].map((v) => (v === '*' ? max : Number(v))) as [number, number];
    for (let n = Math.max(1, Math.min(a, b)); n <= Math.min(Math.max(a, b), max); n++) out.add(n);
  }
  return [...out].sort((x, y) => x - y);
}

const literal = (data: string) => `{${data.length}}\r\n${data}`;
/** An IMAP string: quoted when plain ASCII on one line, a literal otherwise; NIL when empty. */
const nstring = (value: string) =>
  value === '' ? 'NIL' : /^[\x20-\x7e]*$/.test(value) ? `"${value.replace(/["\\]/g, '\\$&')}"` : literal(value);

function addresses(value: string): string {
  const list = value
    .split(',')
    .map((one) => /^\s*(?:"?([^"<]*?)"?\s*<)?([^<>@\s]+)@([^<>@\s]+?)>?\s*$/.exec(one))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `(${nstring(m[1] ?? '')} NIL ${nstring(m[2]!)} ${nstring(m[3]!)})`);
  return list.length === 0 ? 'NIL' : `(${list.join('')})`;
}

function envelope(raw: string): string {
  const field = (name: string) => headerField(raw, name);
  const from = addresses(field('From'));
  const sender = field('Sender') ? addresses(field('Sender')) : from;
  const replyTo = field('Reply-To') ? addresses(field('Reply-To')) : from;
  return `(${[
    nstring(field('Date')),
    nstring(field('Subject')),
    from,
    sender,
    replyTo,
    addresses(field('To')),
    addresses(field('Cc')),
    addresses(field('Bcc')),
    nstring(field('In-Reply-To')),
    nstring(field('Message-ID')),
  ].join(' ')})`;
}

/** A one-part text body structure (multipart messages are described as text/plain too: it is a demo). */
function bodyStructure(raw: string): string {
  const type = /^([\w-]+)\/([\w.+-]+)/.exec(headerField(raw, 'Content-Type'));
  const [main, sub] = type && type[1]!.toLowerCase() !== 'multipart' ? [type[1]!, type[2]!] : ['text', 'plain'];
  const charset = /charset="?([\w-]+)"?/i.exec(headerField(raw, 'Content-Type'))?.[1] ?? 'us-ascii';
  const encoding = headerField(raw, 'Content-Transfer-Encoding') || '7bit';
  const body = bodyOf(raw);
  const lines = main.toLowerCase() === 'text' ? ` ${body.split('\r\n').length - 1}` : '';
  return `(${nstring(main.toUpperCase())} ${nstring(sub.toUpperCase())} ("CHARSET" ${nstring(charset)}) NIL NIL ${nstring(encoding.toUpperCase())} ${body.length}${lines})`;
}

/** The header fields named (or, with `not`, not named) in `names`, folded lines kept, plus the empty line. */
function headerFields(raw: string, names: string[], not: boolean): string {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const fields = headerOf(raw).replace(/\r\n\r\n$/, '\r\n').split(/\r\n(?![ \t])/).filter((f) => f !== '');
  const kept = fields.filter((f) => wanted.has(f.slice(0, f.indexOf(':')).trim().toLowerCase()) !== not);
  return `${kept.map((f) => (f.endsWith('\r\n') ? f : `${f}\r\n`)).join('')}\r\n`;
}

/** One FETCH data item for a message; undefined for an item the demo does not know. */
function fetchItem(item: Token, m: DemoMessage, markSeen: () => void): string | undefined {
  if (typeof item !== 'string') return undefined;
  const upper = item.toUpperCase();
  switch (upper) {
    case 'UID':
      return `UID ${m.uid}`;
    case 'FLAGS':
      return `FLAGS (${[...m.flags].join(' ')})`;
    case 'RFC822.SIZE':
      return `RFC822.SIZE ${m.raw.length}`;
    case 'INTERNALDATE':
      return 'INTERNALDATE "02-Nov-2026 10:00:00 +0000"';
    case 'ENVELOPE':
      return `ENVELOPE ${envelope(m.raw)}`;
    case 'BODY':
    case 'BODYSTRUCTURE':
      return `${upper} ${bodyStructure(m.raw)}`;
    case 'RFC822':
      markSeen();
      return `RFC822 ${literal(m.raw)}`;
    case 'RFC822.HEADER':
      return `RFC822.HEADER ${literal(headerOf(m.raw))}`;
    case 'RFC822.TEXT':
      markSeen();
      return `RFC822.TEXT ${literal(bodyOf(m.raw))}`;
  }
  const match = /^BODY(\.PEEK)?\[([^\]]*)\](?:<(\d{1,10})(?:\.(\d{1,10}))?>)?$/.exec(upper);
  if (!match) return undefined;
  const [, peek, section = '', start, count] = match;
  let data: string;
  const fields = /^HEADER\.FIELDS(\.NOT)? \(([^)]*)\)$/.exec(section);
  if (section === '') data = m.raw;
  else if (section === 'HEADER') data = headerOf(m.raw);
  else if (section === 'TEXT' || section === '1') data = bodyOf(m.raw);
  else if (fields) data = headerFields(m.raw, fields[2]!.split(' ').filter(Boolean), fields[1] !== undefined);
  else return undefined;
  if (!peek) markSeen();
  if (start === undefined) return `BODY[${section}] ${literal(data)}`;
  const from = Number(start);
  return `BODY[${section}]<${from}> ${literal(data.slice(from, count === undefined ? undefined : from + Number(count)))}`;
}

const MACROS: Record<string, string[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

/** `*`-wildcard (`%` stops at the hierarchy delimiter `/`) match of a LIST pattern against INBOX. */
const listMatches = (pattern: string) =>
  new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/%/g, '[^/]*')}$`, 'i').test('INBOX');

export function serveImap(socket: Socket, store: DemoStore): void {
  let box: DemoMessage[] | undefined;
  let selected = false;
  let readOnly = false;
  const send = (text: string) => {
    if (!socket.destroyed) socket.write(`${text}\r\n`, 'latin1');
  };

  const command = (tag: string, tokens: Token[]): void => {
    const done = (status: 'OK' | 'NO' | 'BAD', text: string) => send(`${tag} ${status} ${text}`);
    let name = typeof tokens[0] === 'string' ? tokens[0].toUpperCase() : '';
    let args = tokens.slice(1);
    const uid = name === 'UID';
    if (uid) {
      name = typeof args[0] === 'string' ? `UID ${args[0].toUpperCase()}` : 'UID';
      args = args.slice(1);
    }
    const text = (i: number): string | undefined => (typeof args[i] === 'string' ? (args[i] as string) : undefined);

    switch (name) {
      case 'CAPABILITY':
        send(`* CAPABILITY ${IMAP_CAPABILITIES}`);
        return done('OK', 'CAPABILITY completed');
      case 'NOOP':
        return done('OK', 'NOOP completed');
      case 'LOGOUT':
        reader.stop();
        send('* BYE Postern demo mailbox signing off');
        done('OK', 'LOGOUT completed');
        socket.end();
        return;
      case 'ID':
        send('* ID ("name" "Postern DEMO mailbox")');
        return done('OK', 'ID completed');
      case 'STARTTLS':
        return done('BAD', 'the demo mailbox has no TLS (Postern does it in front of it)');
      case 'AUTHENTICATE':
        return done('NO', 'the demo mailbox only knows LOGIN');
      case 'LOGIN': {
        if (box !== undefined) return done('BAD', 'already logged in');
        const [user, password] = [text(0), text(1)];
        if (user === undefined || password === undefined || args.length !== 2) return done('BAD', 'usage: LOGIN user password');
        box = store.login(user, password);
        if (box === undefined) return done('NO', '[AUTHENTICATIONFAILED] Invalid login or password');
        return done('OK', `[CAPABILITY ${IMAP_CAPABILITIES}] LOGIN completed, demo mailbox of ${user.replace(/[^\x20-\x7e]/g, '?')}`);
      }
    }
    if (box === undefined) return done('BAD', name === '' ? 'missing command' : `${name} needs LOGIN first or is unknown`);
    const messages = box;
    switch (name) {
      case 'ENABLE':
        send('* ENABLED');
        return done('OK', 'ENABLE completed');
      case 'NAMESPACE':
        send('* NAMESPACE (("" "/")) NIL NIL');
        return done('OK', 'NAMESPACE completed');
      case 'CHECK':
        return done('OK', 'CHECK completed');
      case 'LIST':
      case 'LSUB': {
        const rest = Array.isArray(args[0]) ? args.slice(1) : args; // LIST (selection options) ...
        const [reference, pattern] = rest;
        if (typeof reference !== 'string' || typeof pattern !== 'string') return done('BAD', `usage: ${name} reference pattern`);
        if (name === 'LIST' && pattern === '') send('* LIST (\\Noselect) "/" ""');
        else if (listMatches(reference + pattern)) send(`* ${name} (${name === 'LIST' ? '\\HasNoChildren' : ''}) "/" INBOX`);
        return done('OK', `${name} completed`);
      }
      case 'STATUS': {
        const items = args[1];
        if (text(0)?.toUpperCase() !== 'INBOX') return done('NO', '[NONEXISTENT] the demo has only INBOX');
        if (!Array.isArray(items)) return done('BAD', 'usage: STATUS mailbox (items)');
        const values: Record<string, number> = {
          MESSAGES: messages.length,
          RECENT: 0,
          UIDNEXT: (messages.at(-1)?.uid ?? 0) + 1,
          UIDVALIDITY,
          UNSEEN: messages.filter((m) => !m.flags.has('\\Seen')).length,
        };
        const answered = items.filter((i): i is string => typeof i === 'string' && values[i.toUpperCase()] !== undefined);
        send(`* STATUS INBOX (${answered.map((i) => `${i.toUpperCase()} ${values[i.toUpperCase()]}`).join(' ')})`);
        return done('OK', 'STATUS completed');
      }
      case 'SELECT':
      case 'EXAMINE':
        selected = false;
        if (text(0)?.toUpperCase() !== 'INBOX') return done('NO', '[NONEXISTENT] the demo has only INBOX');
        selected = true;
        readOnly = name === 'EXAMINE';
        send(`* FLAGS (${FLAGS.join(' ')})`);
        send(`* OK [PERMANENTFLAGS (${readOnly ? '' : FLAGS.join(' ')})] flags are kept in memory only`);
        send(`* ${messages.length} EXISTS`);
        send('* 0 RECENT');
        send(`* OK [UIDVALIDITY ${UIDVALIDITY}] UIDs valid`);
        send(`* OK [UIDNEXT ${(messages.at(-1)?.uid ?? 0) + 1}] predicted next UID`);
        return done('OK', `[${readOnly ? 'READ-ONLY' : 'READ-WRITE'}] ${name} completed`);
    }
    if (!selected) return done('BAD', `${name} needs a selected mailbox or is unknown`);

    /** Sequence numbers (1-based) named by a sequence set (or a UID set for the UID commands). */
    const numbers = (set: Token | undefined, byUid: boolean): number[] | undefined => {
      if (typeof set !== 'string') return undefined;
      if (!byUid) return sequenceSet(set, messages.length);
      const uids = sequenceSet(set, messages.at(-1)?.uid ?? 0);
      return uids?.map((u) => messages.findIndex((m) => m.uid === u) + 1).filter((n) => n > 0);
    };
    switch (name) {
      case 'FETCH':
      case 'UID FETCH': {
        const chosen = numbers(args[0], uid);
        const spec = args[1];
        if (chosen === undefined || spec === undefined) return done('BAD', 'usage: FETCH sequence-set items');
        const items: Token[] = Array.isArray(spec) ? [...spec] : (MACROS[String(spec).toUpperCase()] ?? [spec]);
        if (uid && !items.some((i) => typeof i === 'string' && i.toUpperCase() === 'UID')) items.unshift('UID');
        const lines: string[] = [];
        for (const n of chosen) {
          const m = messages[n - 1]!;
          const parts = items.map((item) => fetchItem(item, m, () => readOnly || m.flags.add('\\Seen')));
          if (parts.some((p) => p === undefined)) return done('BAD', 'unknown FETCH item');
          lines.push(`* ${n} FETCH (${parts.join(' ')})`);
        }
        lines.forEach(send);
        return done('OK', `${name} completed`);
      }
      case 'STORE':
      case 'UID STORE': {
        const chosen = numbers(args[0], uid);
        const op = /^([+-]?)FLAGS(\.SILENT)?$/.exec(text(1)?.toUpperCase() ?? '');
        const flags = args.slice(2).flat().filter((f): f is string => typeof f === 'string');
        if (chosen === undefined || !op) return done('BAD', 'usage: STORE sequence-set [+-]FLAGS[.SILENT] (flags)');
        if (readOnly) return done('NO', 'mailbox is read-only (EXAMINE)');
        for (const n of chosen) {
          const m = messages[n - 1]!;
          if (op[1] === '') m.flags.clear();
          for (const flag of flags) op[1] === '-' ? m.flags.delete(flag) : m.flags.add(flag);
          if (!op[2]) send(`* ${n} FETCH (${uid ? `UID ${m.uid} ` : ''}FLAGS (${[...m.flags].join(' ')}))`);
        }
        return done('OK', `${name} completed`);
      }
      case 'SEARCH':
      case 'UID SEARCH': {
        let found = messages.map((_, i) => i + 1);
        const has = (n: number, flag: string) => messages[n - 1]!.flags.has(flag);
        const criteria = args.flat();
        for (let i = 0; i < criteria.length; i++) {
          const key = String(criteria[i]).toUpperCase();
          const flag = /^(UN)?(SEEN|FLAGGED|DELETED|ANSWERED|DRAFT)$/.exec(key);
          if (key === 'ALL' || key === 'OLD') continue;
          if (key === 'CHARSET') i++;
          else if (key === 'NEW' || key === 'RECENT') found = key === 'NEW' ? found.filter((n) => !has(n, '\\Seen')) : [];
          else if (flag) found = found.filter((n) => has(n, `\\${flag[2]![0]}${flag[2]!.slice(1).toLowerCase()}`) === (flag[1] === undefined));
          else if (key === 'UID' || /^[\d*]/.test(key)) {
            const set = numbers(key === 'UID' ? criteria[++i] : key, key === 'UID');
            if (set === undefined) return done('BAD', 'invalid sequence set');
            found = found.filter((n) => set.includes(n));
          } else return done('BAD', `the demo cannot SEARCH ${key}`);
        }
        send(`* SEARCH${found.map((n) => ` ${uid ? messages[n - 1]!.uid : n}`).join('')}`);
        return done('OK', `${name} completed`);
      }
      case 'EXPUNGE':
        return done('OK', 'EXPUNGE completed (demo: nothing is removed)');
      case 'CLOSE':
      case 'UNSELECT':
        selected = false;
        return done('OK', `${name} completed`);
      default:
        return done('BAD', 'unknown command');
    }
  };

  const reader = new CommandReader(socket, {
    maxLine: MAX_LINE,
    maxLiteral: MAX_LITERAL,
    onContinue: () => send('+ go ahead'),
    onOverflow: () => {
      send('* BYE line or literal too long');
      socket.end();
    },
    onError: () => send('* BAD internal error of the demo mailbox'),
    onCommand: (parts) => {
      const first = parts[0] ?? '';
      const space = first.indexOf(' ');
      const tag = space < 0 ? first : first.slice(0, space);
      if (tag === '' && first.trim() === '' && parts.length === 1) return send('* BAD empty command line');
      if (/[\u0000-\u001f\u007f-\u00ff(){%*"\\+]/.test(tag)) return send('* BAD invalid tag');
      let tokens: Token[];
      try {
        tokens = tokenize([space < 0 ? '' : first.slice(space + 1), ...parts.slice(1)]);
      } catch {
        return send(`${tag} BAD syntax error`);
      }
      command(tag, tokens);
    },
  });
  send(IMAP_GREETING);
}
