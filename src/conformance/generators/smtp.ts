/** SMTP command generators (RFC 5321, RFC 4954 AUTH, RFC 3207 STARTTLS). */
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
  line,
  untaggedUnknown,
  wrongDigest,
} from './common.js';
import type { DialectGen } from './dialect.js';

const safe: fc.Arbitrary<Command> = fc.oneof(
  fc.tuple(fc.constantFrom('NOOP', 'noop', 'RSET'), eol).map(([v, e]) => command('noop', [line(v, { eol: e })])),
  fc.tuple(fc.constantFrom('EHLO client.example', 'HELO client.example', 'ehlo client.example'), eol).map(([v, e]) => command('capability', [line(v, { eol: e })])),
);

const bad = untaggedUnknown;

const malformed: fc.Arbitrary<Command> = fc
  .constantFrom('', ' NOOP', 'NO\rOP', 'EHLO', 'HELO a b', 'VRFY postmaster', 'HELP', 'EXPN list', 'DATA', 'RCPT TO:<a@example.com>', 'AUTH', 'AUTH XUNKNOWN', 'AUTH LOGIN a b')
  .map((t) => command('malformed', [line(t)]));

const overlong: fc.Arbitrary<Command> = fc.integer({ min: 4100, max: 6000 }).map((n) => {
  const text = `NOOP ${'x'.repeat(n)}`;
  return command('overlong', [line(text, { label: `NOOP xxxxxxxx... (${text.length} bytes)` })]);
});

function authForms(c: Credentials, kind: 'auth' | 'login', creds: 'good' | 'bad'): Command[] {
  const plain = b64(`\0${c.user}\0${c.password}`);
  return [
    command(kind, [line(`AUTH PLAIN ${plain}`)], { credentials: creds }),
    command(kind, [line('AUTH PLAIN', { wait: true }), line(plain)], { credentials: creds }),
    command(kind, [line('AUTH LOGIN', { wait: true }), line(b64(c.user), { wait: true }), line(b64(c.password))], { credentials: creds }),
    command(kind, [line(`AUTH LOGIN ${b64(c.user)}`, { wait: true }), line(b64(c.password))], { credentials: creds }),
  ];
}

function authAttempt(users: Credentials[]): fc.Arbitrary<Command> {
  const creds = badCredentials(users);
  const arbs: Array<fc.Arbitrary<Command>> = [
    creds.chain((c) => fc.constantFrom(...authForms(c, 'auth', 'bad'))),
    fc.tuple(creds, wrongDigest).map(([c, d]) => command('auth', [line('AUTH CRAM-MD5', { wait: true }), line(b64(`${c.user} ${d}`))], { credentials: 'bad' })),
    malformedSaslStart(['AUTH PLAIN', 'AUTH LOGIN', 'AUTH CRAM-MD5']).map(([a, junk]) =>
      command('auth', [line(a, { wait: true }), line(junk)], { credentials: 'malformed' }),
    ),
    fc.constantFrom(b64('nonul'), b64('\0onlyone'), '!!!', '=').map((d) => command('auth', [line(`AUTH PLAIN ${d}`)], { credentials: 'malformed' })),
  ];
  if (users.length > 0) {
    arbs.push(goodCredentials(users).map((c) => command('auth', [line('AUTH CRAM-MD5', { wait: true }), cramLine(c.user, c.password)], { credentials: 'good' })));
  }
  return fc.oneof(...arbs);
}

export const smtp: DialectGen = {
  protocol: 'smtp',
  safe,
  bad,
  malformed,
  overlong,
  authAttempt,
  goodLogin: (users) => goodCredentials(users).chain((c) => fc.constantFrom(...authForms(c, 'login', 'good'))),
  followup: () => command('followup', [line('MAIL FROM:<conformance@example.com>')]),
  followupOk: (reply) => /^250(?: |$)/.test(reply[reply.length - 1]?.text ?? ''),
  starttls: () => command('starttls', [line('STARTTLS', { wait: true })]),
  quit: () => command('quit', [line('QUIT')]),
  injectable: fc
    .constantFrom(['MAIL FROM:<evil@example.com>'], ['QUIT'], ['NOOP'], ['EHLO evil.example'], ['RSET', 'NOOP'])
    .map((ls) => ls.map((t) => line(t))),
  partialLine: fc.constantFrom('', 'NO', 'EHLO a', 'MAIL FROM:<', 'QUI'),
  finalize: (commands) => commands,
};
