/** POP3 command generators (RFC 1939, RFC 2449 CAPA, RFC 5034 AUTH, RFC 2595 STLS). */
import fc from 'fast-check';
import type { Command, Credentials } from '../types.js';
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
  untaggedUnknown,
  wrongDigest,
} from './common.js';
import type { DialectGen } from './dialect.js';

const safe: fc.Arbitrary<Command> = fc.oneof(
  fc.tuple(fc.constantFrom('NOOP', 'noop', 'Noop'), eol).map(([v, e]) => command('noop', [line(v, { eol: e })])),
  fc.tuple(fc.constantFrom('CAPA', 'capa', 'CAPA x'), eol).map(([v, e]) => command('capability', [line(v, { eol: e })])),
);

const bad = untaggedUnknown;

const malformed: fc.Arbitrary<Command> = fc.oneof(
  fc.constantFrom('', ' NOOP', 'NO\rOP', 'NOOP\x00', '\xff\xfe', 'STAT', 'LIST', 'RETR 1', 'PASS x', 'USER', 'APOP onlyone', 'AUTH XUNKNOWN', 'AUTH PLAIN a b c d').map((t) => command('malformed', [line(t)])),
  // USER then an invalid command resets the state: the PASS after it is refused.
  fc.tuple(junkArg, unknownVerb).map(([u, v]) => command('malformed', [line(`USER ${u}`), line(v), line('PASS x')])),
);

const overlong: fc.Arbitrary<Command> = fc
  .tuple(fc.constantFrom('USER ', 'NOOP ', 'CAPA ', ''), fc.integer({ min: 130, max: 400 }))
  .map(([p, n]) => {
    const text = p + 'x'.repeat(n);
    return command('overlong', [line(text, { label: `${p}${'x'.repeat(8)}... (${text.length} bytes)` })]);
  });

function userPass(c: Credentials, kind: 'auth' | 'login', creds: 'good' | 'bad'): Command {
  return command(kind, [line(`USER ${c.user}`), line(`PASS ${c.password}`)], { credentials: creds });
}

function saslForms(c: Credentials, kind: 'auth' | 'login', creds: 'good' | 'bad'): fc.Arbitrary<Command> {
  const plain = b64(`\0${c.user}\0${c.password}`);
  const forms: Command[] = [
    userPass(c, kind, creds),
    command(kind, [line(`AUTH PLAIN ${plain}`)], { credentials: creds }),
    command(kind, [line('AUTH PLAIN', { wait: true }), line(plain)], { credentials: creds }),
    command(kind, [line('AUTH LOGIN', { wait: true }), line(b64(c.user), { wait: true }), line(b64(c.password))], { credentials: creds }),
    command(kind, [line(`AUTH LOGIN ${b64(c.user)}`, { wait: true }), line(b64(c.password))], { credentials: creds }),
    command(kind, [line('auth plain', { wait: true }), line(plain)], { credentials: creds }),
  ];
  return fc.constantFrom(...forms);
}

function authAttempt(users: Credentials[]): fc.Arbitrary<Command> {
  const creds = badCredentials(users);
  const arbs: Array<fc.Arbitrary<Command>> = [
    creds.chain((c) => saslForms(c, 'auth', 'bad')),
    fc.tuple(creds, wrongDigest).map(([c, d]) => command('auth', [line(`APOP ${c.user} ${d}`)], { credentials: 'bad' })),
    fc.tuple(creds, wrongDigest).map(([c, d]) =>
      command('auth', [line('AUTH CRAM-MD5', { wait: true }), line(b64(`${c.user} ${d}`), { wait: true })], { credentials: 'bad' }),
    ),
    malformedSaslStart(['AUTH PLAIN', 'AUTH LOGIN', 'AUTH CRAM-MD5']).map(([a, junk]) =>
      command('auth', [line(a, { wait: true }), line(junk, { wait: true })], { credentials: 'malformed' }),
    ),
    fc.constantFrom(b64('nonul'), b64('\0onlyone'), '!!!', '=').map((d) => command('auth', [line(`AUTH PLAIN ${d}`)], { credentials: 'malformed' })),
    fc.constantFrom('AUTH', 'AUTH XUNKNOWN').map((t) => command('auth', [line(t)], { credentials: 'none' })),
  ];
  if (users.length > 0) {
    arbs.push(goodCredentials(users).map((c) => command('auth', [line('AUTH CRAM-MD5', { wait: true }), cramLine(c.user, c.password)], { credentials: 'good' })));
  }
  return fc.oneof(...arbs);
}

export const pop3: DialectGen = {
  protocol: 'pop3',
  safe,
  bad,
  malformed,
  overlong,
  authAttempt,
  goodLogin: (users) => goodCredentials(users).chain((c) => saslForms(c, 'login', 'good')),
  followup: () => command('followup', [line('STAT')]),
  followupOk: (reply) => /^\+OK \d+ \d+/.test(reply[0]?.text ?? ''),
  starttls: () => command('starttls', [line('STLS', { wait: true })]),
  quit: () => command('quit', [line('QUIT')]),
  injectable: fc.constantFrom(['CAPA'], ['USER evil'], ['QUIT'], ['NOOP', 'CAPA'], ['USER evil', 'PASS evil']).map((ls) => ls.map((t) => line(t))),
  partialLine: fc.constantFrom('', 'NO', 'USER a', 'CAPA', 'AUTH PL'),
  finalize: (commands) => commands,
};
