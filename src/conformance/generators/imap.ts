/**
 * IMAP command generators (RFC 3501 not-authenticated state, RFC 7888 LITERAL+, SASL-IR).
 * Lines start with the placeholder tag `§`, replaced by `finalize` with unique tags.
 */
import fc from 'fast-check';
import type { ClientLine, Command, Credentials } from '../types.js';
import {
  b64,
  badCredentials,
  command,
  cramLine,
  eol,
  goodCredentials,
  malformedSaslStart,
  junkArg,
  line,
  unknownVerb,
  wrongDigest,
} from './common.js';
import type { DialectGen } from './dialect.js';

const T = '§';
const tagged = (kind: Command['kind'], lines: ClientLine[], extra: Partial<Command> = {}): Command => command(kind, lines, { tag: T, ...extra });

const safe: fc.Arbitrary<Command> = fc.oneof(
  fc.tuple(fc.constantFrom('NOOP', 'noop', ' NOOP'), eol).map(([v, e]) => tagged('noop', [line(`${T} ${v}`, { eol: e })])),
  fc.tuple(fc.constantFrom('CAPABILITY', 'capability', 'CAPABILITY x'), eol).map(([v, e]) => tagged('capability', [line(`${T} ${v}`, { eol: e })])),
);

const bad: fc.Arbitrary<Command> = fc
  .tuple(unknownVerb, fc.option(junkArg, { nil: undefined }))
  .map(([v, a]) => tagged('bad', [line(a === undefined ? `${T} ${v}` : `${T} ${v} ${a}`)]));

const malformed: fc.Arbitrary<Command> = fc.oneof(
  // The server cannot see a tag in these.
  fc.constantFrom('', 'NOTAG', 'a+b NOOP', `${'x'.repeat(33)} NOOP`, ' a9 NOOP', '*', '(a) NOOP').map((t) => command('malformed', [line(t)], { tag: '' })),
  fc.constantFrom('NO\rOP', 'NOOP\x00', '"unterminated', 'LOGIN', 'LOGIN onlyone', 'LOGIN a b c', 'LOGIN "" x', 'AUTHENTICATE', 'AUTHENTICATE XUNKNOWN', 'FETCH 1 FLAGS', 'ID NIL')
    .map((t) => tagged('malformed', [line(`${T} ${t}`)])),
);

const overlong: fc.Arbitrary<Command> = fc.integer({ min: 4100, max: 6000 }).map((n) => {
  const text = `${T} NOOP ${'x'.repeat(n)}`;
  return tagged('overlong', [line(text, { label: `${T} NOOP xxxxxxxx... (${text.length} bytes)` })]);
});

const ATOM = /^[^\x00-\x20\x7f(){%*"\\\]]+$/;
const quote = (s: string): string => `"${s.replace(/[\\"]/g, '\\$&')}"`;

function loginForms(c: Credentials, kind: 'auth' | 'login', creds: 'good' | 'bad'): Command[] {
  const u = c.user;
  const p = c.password;
  const plain = b64(`\0${u}\0${p}`);
  const forms: Command[] = [
    tagged(kind, [line(`${T} LOGIN ${quote(u)} ${quote(p)}`)], { credentials: creds }),
    tagged(kind, [line(`${T} LOGIN {${u.length}}`, { wait: true }), line(`${u} {${p.length}}`, { wait: true }), line(p)], { credentials: creds }),
    tagged(kind, [line(`${T} LOGIN {${u.length}+}`, { awaits: false }), line(`${u} {${p.length}+}`, { awaits: false }), line(p)], { credentials: creds }),
    tagged(kind, [line(`${T} login ${quote(u)} {${p.length}}`, { wait: true }), line(p)], { credentials: creds }),
    tagged(kind, [line(`${T} AUTHENTICATE PLAIN ${plain}`)], { credentials: creds }),
    tagged(kind, [line(`${T} AUTHENTICATE PLAIN`, { wait: true }), line(plain)], { credentials: creds }),
    tagged(kind, [line(`${T} AUTHENTICATE LOGIN`, { wait: true }), line(b64(u), { wait: true }), line(b64(p))], { credentials: creds }),
  ];
  if (ATOM.test(u) && ATOM.test(p)) forms.push(tagged(kind, [line(`${T} LOGIN ${u} ${p}`)], { credentials: creds }));
  return forms;
}

function authAttempt(users: Credentials[]): fc.Arbitrary<Command> {
  const creds = badCredentials(users);
  const arbs: Array<fc.Arbitrary<Command>> = [
    creds.chain((c) => fc.constantFrom(...loginForms(c, 'auth', 'bad'))),
    fc.tuple(creds, wrongDigest).map(([c, d]) =>
      tagged('auth', [line(`${T} AUTHENTICATE CRAM-MD5`, { wait: true }), line(b64(`${c.user} ${d}`))], { credentials: 'bad' }),
    ),
    malformedSaslStart(['PLAIN', 'LOGIN', 'CRAM-MD5']).map(([m, junk]) =>
      tagged('auth', [line(`${T} AUTHENTICATE ${m}`, { wait: true }), line(junk)], { credentials: 'malformed' }),
    ),
    fc.constantFrom(b64('nonul'), b64('\0onlyone'), '!!!').map((d) => tagged('auth', [line(`${T} AUTHENTICATE PLAIN ${d}`)], { credentials: 'malformed' })),
  ];
  if (users.length > 0) {
    arbs.push(
      goodCredentials(users).map((c) => tagged('auth', [line(`${T} AUTHENTICATE CRAM-MD5`, { wait: true }), cramLine(c.user, c.password)], { credentials: 'good' })),
    );
  }
  return fc.oneof(...arbs);
}

const PREFIXES = ['a', 'A', 'x.', 'k-', 'Z_'];

function finalize(commands: Command[], variant: number): Command[] {
  const prefix = PREFIXES[variant % PREFIXES.length]!;
  let n = 1;
  const retag = (l: ClientLine, tag: string): ClientLine => (l.text.startsWith(T) ? { ...l, text: tag + l.text.slice(T.length), ...(l.label ? { label: tag + l.label.slice(T.length) } : {}) } : l);
  return commands.map((c) => {
    if (c.tag !== T && !c.injected) return c;
    const tag = c.tag === T ? `${prefix}${n++}` : c.tag;
    const injected = c.injected?.map((l) => retag(l, `${prefix}i${n++}`));
    return { ...c, ...(tag === undefined ? {} : { tag }), lines: c.lines.map((l) => (tag === undefined ? l : retag(l, tag))), ...(injected ? { injected } : {}) };
  });
}

export const imap: DialectGen = {
  protocol: 'imap',
  safe,
  bad,
  malformed,
  overlong,
  authAttempt,
  goodLogin: (users) => goodCredentials(users).chain((c) => fc.constantFrom(...loginForms(c, 'login', 'good'))),
  followup: () => tagged('followup', [line(`${T} STATUS INBOX (MESSAGES)`)]),
  followupOk: (reply) => reply.some((l) => /^\* STATUS /i.test(l.text)) && /^\S+ OK\b/i.test(reply[reply.length - 1]?.text ?? ''),
  starttls: () => tagged('starttls', [line(`${T} STARTTLS`, { wait: true })]),
  quit: () => tagged('quit', [line(`${T} LOGOUT`)]),
  injectable: fc
    .constantFrom(['CAPABILITY'], ['LOGOUT'], ['NOOP'], ['LOGIN evil evil'], ['NOOP', 'CAPABILITY'])
    .map((ls) => ls.map((t) => line(`${T} ${t}`))),
  partialLine: fc.constantFrom('', 'z1 NOO', 'z2 LOGIN a', 'z3 CAPABILITY', 'z4'),
  finalize,
};
