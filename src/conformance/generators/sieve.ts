/**
 * ManageSieve command generators (RFC 5804 before authentication: CAPABILITY, NOOP, STARTTLS,
 * AUTHENTICATE, LOGOUT; strings quoted or as non-synchronising literals `{N+}`; SASL responses
 * are strings too).
 */
import fc from 'fast-check';
import type { Command, Credentials } from '../types.js';
import { b64, badCredentials, command, cramLine, eol, goodCredentials, junkArg, line, malformedSaslStart, unknownVerb, wrongDigest } from './common.js';
import type { DialectGen } from './dialect.js';

const quoted = (text: string): string => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
/** A client literal (RFC 5804 §4: `{N+}` CRLF, then the bytes). */
const literal = (text: string): string => `{${text.length}+}\r\n${text}`;

const safe: fc.Arbitrary<Command> = fc.oneof(
  fc.tuple(fc.constantFrom('NOOP', 'noop', 'NOOP "tag1"', `NOOP ${literal('tag2')}`), eol).map(([v, e]) => command('noop', [line(v, { eol: e })])),
  fc.tuple(fc.constantFrom('CAPABILITY', 'capability', 'Capability'), eol).map(([v, e]) => command('capability', [line(v, { eol: e })])),
);

/** Unknown verbs, with or without a string argument. */
const bad: fc.Arbitrary<Command> = fc
  .tuple(unknownVerb, fc.option(junkArg, { nil: undefined }))
  .map(([v, a]) => command('bad', [line(a === undefined ? v : `${v} ${quoted(a)}`)]));

const malformed: fc.Arbitrary<Command> = fc
  .constantFrom(
    '', ' NOOP', 'NO\rOP', 'NOOP "a" "b"', 'NOOP atom', 'CAPABILITY "x"', 'LOGOUT now', 'AUTHENTICATE', 'AUTHENTICATE PLAIN', 'AUTHENTICATE "PLAIN" "a" "b"',
    'NOOP "unterminated', 'NOOP "a\\b"', 'HAVESPACE "s" 10', 'LISTSCRIPTS', 'PUTSCRIPT "s" {4+}\r\nkeep', 'AUTHENTICATE "XUNKNOWN"',
  )
  .map((t) => command('malformed', [line(t)]));

const overlong: fc.Arbitrary<Command> = fc.integer({ min: 4200, max: 6000 }).map((n) => {
  const text = `NOOP "${'x'.repeat(n)}"`;
  return command('overlong', [line(text, { label: `NOOP "xxxxxxxx..." (${text.length} bytes)` })]);
});

function authForms(c: Credentials, kind: 'auth' | 'login', creds: 'good' | 'bad'): Command[] {
  const plain = b64(`\0${c.user}\0${c.password}`);
  return [
    command(kind, [line(`AUTHENTICATE "PLAIN" ${quoted(plain)}`)], { credentials: creds }),
    command(kind, [line(`AUTHENTICATE "PLAIN" ${literal(plain)}`)], { credentials: creds }),
    command(kind, [line('AUTHENTICATE "PLAIN"', { wait: true }), line(quoted(plain))], { credentials: creds }),
    command(kind, [line('AUTHENTICATE "LOGIN"', { wait: true }), line(quoted(b64(c.user)), { wait: true }), line(quoted(b64(c.password)))], { credentials: creds }),
    command(kind, [line(`authenticate "login" ${quoted(b64(c.user))}`, { wait: true }), line(quoted(b64(c.password)))], { credentials: creds }),
  ];
}

function authAttempt(users: Credentials[]): fc.Arbitrary<Command> {
  const creds = badCredentials(users);
  const arbs: Array<fc.Arbitrary<Command>> = [
    creds.chain((c) => fc.constantFrom(...authForms(c, 'auth', 'bad'))),
    fc.tuple(creds, wrongDigest).map(([c, d]) => command('auth', [line('AUTHENTICATE "CRAM-MD5"', { wait: true }), line(quoted(b64(`${c.user} ${d}`)))], { credentials: 'bad' })),
    malformedSaslStart(['AUTHENTICATE "PLAIN"', 'AUTHENTICATE "LOGIN"', 'AUTHENTICATE "CRAM-MD5"']).map(([a, junk]) =>
      command('auth', [line(a, { wait: true }), line(quoted(junk))], { credentials: 'malformed' }),
    ),
    fc.constantFrom(b64('nonul'), b64('\0onlyone'), '!!!', '=').map((d) => command('auth', [line(`AUTHENTICATE "PLAIN" ${quoted(d)}`)], { credentials: 'malformed' })),
  ];
  if (users.length > 0) {
    arbs.push(goodCredentials(users).map((c) => command('auth', [line('AUTHENTICATE "CRAM-MD5"', { wait: true }), cramLine(c.user, c.password)], { credentials: 'good' })));
  }
  return fc.oneof(...arbs);
}

export const sieve: DialectGen = {
  protocol: 'sieve',
  safe,
  bad,
  malformed,
  overlong,
  authAttempt,
  goodLogin: (users) => goodCredentials(users).chain((c) => fc.constantFrom(...authForms(c, 'login', 'good'))),
  followup: () => command('followup', [line('LISTSCRIPTS')]),
  followupOk: (reply) => /^OK(?: |$)/i.test(reply[reply.length - 1]?.text ?? ''),
  starttls: () => command('starttls', [line('STARTTLS', { wait: true })]),
  quit: () => command('quit', [line('LOGOUT')]),
  injectable: fc.constantFrom(['CAPABILITY'], ['NOOP "evil"'], ['LOGOUT'], ['NOOP', 'CAPABILITY'], [`AUTHENTICATE "PLAIN" ${quoted(b64('\0evil\0evil'))}`]).map((ls) => ls.map((t) => line(t))),
  partialLine: fc.constantFrom('', 'NO', 'NOOP "a', 'CAPAB', 'AUTHENTICATE "PL'),
  finalize: (commands) => commands,
};
