/**
 * Generators of what reaches Postern from outside: client command sequences (commands, SASL
 * exchanges, IMAP literals, arbitrary bytes), valid logins carrying a connection number,
 * auth_http answers and backend replies. Strings are binary (latin1, one char per byte).
 */
import fc from 'fast-check';
import type { FuzzedProtocol as Protocol } from './profile.js';
import type { AuthHttpPlan, BackendScript, OutcomeSpec, ReplySpec } from './services.js';
import { marker } from './services.js';

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');
export const b64 = (text: string): string => Buffer.from(text, 'latin1').toString('base64');

export const anyBytes = (maxLength: number, minLength = 0): fc.Arbitrary<string> => fc.uint8Array({ minLength, maxLength }).map(latin1);

const SPECIAL = ['\0', '\r', '\n', ' ', '\t', '%', '"', '\\', '{', '}', '*', '+', '=', '<', '>', ':', '@', '(', ')', '[', ']', '\x7f', '\x80', '\xff'];

/** One byte, weighted towards those the grammars care about. */
const unit = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...'abcxyzABC0129-._@') },
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)) },
);

export const word = fc.string({ unit, maxLength: 16 });
export const cleanWord = fc.string({ unit: fc.constantFrom(...'abcxyz0129-._@'), minLength: 1, maxLength: 12 });
/** Printable, no space: safe in any argument form. */
const printableWord = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 12 });

/** User names and passwords: clean, odd bytes, long, empty. */
export const credential = fc.oneof(
  { weight: 5, arbitrary: cleanWord },
  { weight: 4, arbitrary: word },
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 400 }).map((n) => 'p'.repeat(n)) },
  { weight: 1, arbitrary: fc.constant('') },
);

const eol = fc.oneof(
  { weight: 12, arbitrary: fc.constant('\r\n') },
  { weight: 3, arbitrary: fc.constant('\n') },
  { weight: 1, arbitrary: fc.constantFrom('\r', '', ' \r\n', '\r\r\n', '\t\n', '\0\r\n') },
);

const randomCase = (verb: string): fc.Arbitrary<string> =>
  fc
    .array(fc.boolean(), { minLength: verb.length, maxLength: verb.length })
    .map((flags) => [...verb].map((c, i) => (flags[i] ? c.toLowerCase() : c.toUpperCase())).join(''));

const verbOf = (...verbs: string[]): fc.Arbitrary<string> =>
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...verbs) }, { weight: 1, arbitrary: fc.constantFrom(...verbs).chain(randomCase) });

const spaces = fc.constantFrom(' ', ' ', ' ', '  ', '\t');
const hex32 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex'));

/** A SASL continuation line (or initial response) carrying `decoded`, mostly well-formed base64. */
const saslLine = (decoded: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 8, arbitrary: decoded.map(b64) },
    { weight: 1, arbitrary: decoded.map((d) => b64(d).replace(/=+$/, '')) },
    { weight: 1, arbitrary: decoded.map((d) => `${b64(d)}=*junk`) },
    { weight: 1, arbitrary: fc.constantFrom('*', '', '=', '====', '!!!!', 'A', 'AB=C', 'Zm9v YmFy') },
    { weight: 1, arbitrary: word },
  );

const plainMessage = (user: fc.Arbitrary<string>, password: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.oneof(fc.constant(''), cleanWord, word), user, password).map(([z, u, p]) => `${z}\0${u}\0${p}`) },
    { weight: 1, arbitrary: user.map((u) => `\0${u}`) },
    { weight: 1, arbitrary: anyBytes(40) },
  );

const cramMessage = (user: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof({ weight: 6, arbitrary: fc.tuple(user, hex32).map(([u, d]) => `${u} ${d}`) }, { weight: 1, arbitrary: fc.tuple(user, anyBytes(40)).map(([u, d]) => `${u} ${d}`) }, { weight: 1, arbitrary: anyBytes(40) });

const concat = (...parts: Array<fc.Arbitrary<string>>): fc.Arbitrary<string> => fc.tuple(...parts).map((p) => p.join(''));
const text = (value: string): fc.Arbitrary<string> => fc.constant(value);

/** Arbitrary bytes, an over-long line, a bare word: what no grammar expects. */
const noise = (longVerb: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 3, arbitrary: anyBytes(60) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 100, max: 6000 }), eol).map(([n, e]) => `${longVerb} ${'x'.repeat(n)}${e}`) },
    { weight: 1, arbitrary: concat(cleanWord, eol) },
    { weight: 1, arbitrary: fc.constantFrom('\r\n', '\n', '\r\n\r\n', ' \r\n', '\0\n', '\xff\xfe\r\n') },
  );

/** A few byte edits of a command sequence: replace, insert, delete, duplicate. */
function mutated(segment: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.tuple(fc.constantFrom('replace', 'insert', 'delete', 'duplicate'), fc.nat(), fc.nat({ max: 8 }), anyBytes(4, 1));
  return fc.oneof(
    { weight: 6, arbitrary: segment },
    {
      weight: 1,
      arbitrary: fc.tuple(segment, fc.array(edit, { minLength: 1, maxLength: 3 })).map(([s, edits]) => {
        let out = s;
        for (const [kind, at, length, bytes] of edits) {
          const p = out.length === 0 ? 0 : at % (out.length + 1);
          if (kind === 'replace') out = out.slice(0, p) + bytes + out.slice(p + bytes.length);
          else if (kind === 'insert') out = out.slice(0, p) + bytes + out.slice(p);
          else if (kind === 'delete') out = out.slice(0, p) + out.slice(p + length);
          else out = out.slice(0, p) + out.slice(p, p + length) + out.slice(p);
        }
        return out;
      }),
    },
  );
}

// ---------------------------------------------------------------- POP3 and SMTP AUTH

/** `AUTH` PLAIN and LOGIN (with and without an initial response) and CRAM-MD5: the same words in POP3 and SMTP. */
const authExchanges = (user: fc.Arbitrary<string>, password: fc.Arbitrary<string>): Array<fc.Arbitrary<string>> => [
  concat(verbOf('AUTH'), text(' '), verbOf('PLAIN'), eol, saslLine(plainMessage(user, password)), eol),
  concat(verbOf('AUTH'), text(' '), verbOf('PLAIN'), text(' '), saslLine(plainMessage(user, password)), eol),
  concat(verbOf('AUTH'), text(' '), verbOf('LOGIN'), eol, saslLine(user), eol, saslLine(password), eol),
  concat(verbOf('AUTH'), text(' '), verbOf('LOGIN'), text(' '), saslLine(user), eol, saslLine(password), eol),
  concat(verbOf('AUTH'), text(' '), verbOf('CRAM-MD5'), eol, saslLine(cramMessage(user)), eol),
];

// ---------------------------------------------------------------- POP3

const pop3Sasl = (user: fc.Arbitrary<string>, password: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    ...authExchanges(user, password),
    concat(verbOf('AUTH'), text(' '), verbOf('EXTERNAL'), fc.constantFrom(' =', ''), eol, saslLine(user), eol),
    concat(verbOf('AUTH'), text(' '), fc.constantFrom('XOAUTH2', 'DIGEST-MD5', 'PLAIN PLAIN', 'CRAM-MD5 x', ''), eol),
  );

export function pop3Segment(user: fc.Arbitrary<string> = credential, password: fc.Arbitrary<string> = credential): fc.Arbitrary<string> {
  return mutated(
    fc.oneof(
      { weight: 4, arbitrary: concat(verbOf('USER'), text(' '), user, eol, verbOf('PASS'), text(' '), password, eol) },
      { weight: 2, arbitrary: concat(verbOf('USER', 'PASS'), fc.constantFrom(' ', '', '  '), user, eol) },
      { weight: 2, arbitrary: concat(verbOf('APOP'), text(' '), user, spaces, fc.oneof(hex32, word), eol) },
      { weight: 5, arbitrary: pop3Sasl(user, password) },
      {
        weight: 3,
        arbitrary: concat(
          verbOf('CAPA', 'NOOP', 'AUTH', 'STLS', 'STAT', 'LIST', 'RETR', 'TOP', 'UIDL', 'RSET', 'DELE', 'US', 'USERS', 'QUI'),
          fc.array(fc.tuple(spaces, word).map(([s, w]) => s + w), { maxLength: 3 }).map((a) => a.join('')),
          eol,
        ),
      },
      { weight: 2, arbitrary: noise('USER') },
    ),
  );
}

// ---------------------------------------------------------------- IMAP

const imapTag = fc.oneof(
  { weight: 10, arbitrary: fc.string({ unit: fc.constantFrom(...'aAzZ09-._'), minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom('', '*', '+', 'a+b', 'x'.repeat(33), 'y'.repeat(32), 'a{1}', 'a"b', 'a\\b', '\xff') },
);

const quote = (v: string): string => `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
const literalEnd = fc.constantFrom('\r\n', '\r\n', '\n');

/** One IMAP argument in one of its forms, sometimes with a literal that lies about its length. */
const imapArgument = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: value.map((v) => (/^[^\s"{(]\S*$/.test(v) ? v : quote(v))) },
    { weight: 2, arbitrary: value.map(quote) },
    { weight: 3, arbitrary: fc.tuple(value, literalEnd).map(([v, end]) => `{${v.length}}${end}${v}`) },
    { weight: 1, arbitrary: fc.tuple(value, literalEnd).map(([v, end]) => `{${v.length}+}${end}${v}`) },
    { weight: 1, arbitrary: fc.tuple(value, literalEnd, fc.integer({ min: -2, max: 2 })).map(([v, end, skew]) => `{${Math.max(0, v.length + skew)}}${end}${v}`) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(value, literalEnd, fc.constantFrom('4294967296', '18446744073709551615', '18446744073709551616', '99999999999999999999999', '', '+', '-1', '0', '00'))
        .map(([v, end, n]) => `{${n}}${end}${v}`),
    },
    { weight: 1, arbitrary: value.map((v) => `"${v}`) },
  );

/** One IMAP argument in a form the server reads as exactly `value`. */
const validImapArgument = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(value, fc.nat({ max: 3 })).map(([v, form]) => {
    if (form === 0 && /^[^\s"{(]\S*$/.test(v)) return v;
    if (form <= 1 && !/[\r\n]/.test(v)) return `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    return form === 2 ? `{${v.length}}\r\n${v}` : `{${v.length}+}\r\n${v}`;
  });

const imapSaslMechanism = fc.constantFrom('PLAIN', 'LOGIN', 'CRAM-MD5', 'EXTERNAL', 'plain', 'login', 'XOAUTH2', 'PLAIN PLAIN');

const imapAuthenticate = (user: fc.Arbitrary<string>, password: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    concat(imapTag, text(' '), verbOf('AUTHENTICATE'), text(' '), verbOf('PLAIN'), eol, saslLine(plainMessage(user, password)), eol),
    concat(imapTag, text(' '), verbOf('AUTHENTICATE'), text(' '), verbOf('PLAIN'), text(' '), saslLine(plainMessage(user, password)), eol),
    concat(imapTag, text(' '), verbOf('AUTHENTICATE'), text(' '), verbOf('LOGIN'), eol, saslLine(user), eol, saslLine(password), eol),
    concat(imapTag, text(' '), verbOf('AUTHENTICATE'), text(' '), verbOf('LOGIN'), text(' '), saslLine(user), eol, saslLine(password), eol),
    concat(imapTag, text(' '), verbOf('AUTHENTICATE'), text(' '), verbOf('CRAM-MD5'), eol, saslLine(cramMessage(user)), eol),
    concat(imapTag, text(' '), verbOf('AUTHENTICATE'), text(' '), imapSaslMechanism, fc.oneof(text(''), saslLine(user).map((s) => ` ${s}`)), eol, fc.array(concat(saslLine(user), eol), { maxLength: 2 }).map((a) => a.join(''))),
  );

export function imapSegment(user: fc.Arbitrary<string> = credential, password: fc.Arbitrary<string> = credential): fc.Arbitrary<string> {
  return mutated(
    fc.oneof(
      { weight: 5, arbitrary: concat(imapTag, text(' '), verbOf('LOGIN'), text(' '), imapArgument(user), text(' '), imapArgument(password), eol) },
      {
        weight: 1,
        arbitrary: concat(imapTag, text(' '), verbOf('LOGIN'), fc.array(imapArgument(credential).map((a) => ` ${a}`), { maxLength: 4 }).map((a) => a.join('')), eol),
      },
      { weight: 5, arbitrary: imapAuthenticate(user, password) },
      {
        weight: 3,
        arbitrary: concat(
          imapTag,
          spaces,
          verbOf('CAPABILITY', 'NOOP', 'STARTTLS', 'SELECT', 'ID', 'ENABLE', 'IDLE', 'COMPRESS', 'FOOBAR', 'LOGOUTX'),
          fc.array(imapArgument(word).map((a) => ` ${a}`), { maxLength: 3 }).map((a) => a.join('')),
          eol,
        ),
      },
      { weight: 1, arbitrary: imapArgument(anyBytes(30)) },
      { weight: 2, arbitrary: noise('a1 NOOP') },
    ),
  );
}

// ---------------------------------------------------------------- SMTP

const smtpAuth = (user: fc.Arbitrary<string>, password: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    ...authExchanges(user, password),
    concat(verbOf('AUTH'), text(' '), fc.constantFrom('EXTERNAL', 'EXTERNAL =', 'XOAUTH2', 'PLAIN a b', 'CRAM-MD5 x', ''), eol, fc.option(concat(saslLine(user), eol), { nil: '' })),
  );

const mailbox = fc.oneof(cleanWord.map((w) => `${w}@example.test`), word, fc.constant(''));

export function smtpSegment(user: fc.Arbitrary<string> = credential, password: fc.Arbitrary<string> = credential): fc.Arbitrary<string> {
  return mutated(
    fc.oneof(
      { weight: 3, arbitrary: concat(verbOf('EHLO', 'HELO'), fc.oneof(text(''), fc.oneof(cleanWord, word).map((d) => ` ${d}`), text(' a b')), eol) },
      { weight: 5, arbitrary: smtpAuth(user, password) },
      {
        weight: 3,
        arbitrary: concat(
          verbOf('MAIL'),
          fc.constantFrom(' FROM:', ' from:', ' FROM: ', '', ' TO:'),
          fc.oneof(mailbox.map((m) => `<${m}>`), mailbox),
          fc.constantFrom('', ' SIZE=100', ' BODY=8BITMIME', ' AUTH=<>'),
          eol,
        ),
      },
      { weight: 2, arbitrary: concat(verbOf('RCPT'), fc.constantFrom(' TO:', ' to:', ''), fc.oneof(mailbox.map((m) => `<${m}>`), mailbox), eol) },
      {
        weight: 3,
        arbitrary: concat(
          verbOf('RSET', 'NOOP', 'VRFY', 'EXPN', 'HELP', 'DATA', 'STARTTLS', 'XCLIENT', 'BDAT', 'TURN', 'ETRN'),
          fc.array(fc.tuple(spaces, word).map(([s, w]) => s + w), { maxLength: 12 }).map((a) => a.join('')),
          eol,
        ),
      },
      { weight: 2, arbitrary: noise('HELO') },
    ),
  );
}

// ---------------------------------------------------------------- ManageSieve

/** A ManageSieve string carrying `value` (RFC 5804 §4), sometimes malformed or lying about its length. */
const sieveString = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 5, arbitrary: value.map(quote) },
    { weight: 3, arbitrary: fc.tuple(value, literalEnd).map(([v, end]) => `{${v.length}+}${end}${v}`) },
    { weight: 1, arbitrary: fc.tuple(value, literalEnd).map(([v, end]) => `{${v.length}}${end}${v}`) },
    { weight: 1, arbitrary: fc.tuple(value, literalEnd, fc.integer({ min: -2, max: 2 })).map(([v, end, skew]) => `{${Math.max(0, v.length + skew)}+}${end}${v}`) },
    { weight: 1, arbitrary: fc.tuple(value, fc.constantFrom('{99999999999+}', '{+}', '{-1}', '{4294967296}')).map(([v, header]) => `${header}\r\n${v}`) },
    { weight: 1, arbitrary: value.map((v) => `"${v}`) },
    { weight: 1, arbitrary: value },
  );

/** A SASL mechanism as ManageSieve names it: a string (quoted or literal). */
const sieveMechanism = (...names: string[]): fc.Arbitrary<string> => sieveString(verbOf(...names));

const sieveAuthenticate = (user: fc.Arbitrary<string>, password: fc.Arbitrary<string>): fc.Arbitrary<string> => {
  const response = (decoded: fc.Arbitrary<string>) => sieveString(saslLine(decoded));
  const command = (mechanism: fc.Arbitrary<string>) => concat(verbOf('AUTHENTICATE'), text(' '), mechanism);
  return fc.oneof(
    concat(command(sieveMechanism('PLAIN')), text(' '), response(plainMessage(user, password)), eol),
    concat(command(sieveMechanism('PLAIN')), eol, response(plainMessage(user, password)), eol),
    concat(command(sieveMechanism('LOGIN')), eol, response(user), eol, response(password), eol),
    concat(command(sieveMechanism('LOGIN')), text(' '), response(user), eol, response(password), eol),
    concat(command(sieveMechanism('CRAM-MD5')), eol, response(cramMessage(user)), eol),
    concat(command(sieveMechanism('EXTERNAL')), fc.oneof(text(''), response(user).map((r) => ` ${r}`)), eol),
    // Cancelled exchanges, unknown mechanisms, too many arguments, none.
    concat(command(sieveMechanism('PLAIN', 'LOGIN')), eol, text('"*"'), eol),
    concat(command(sieveMechanism('XOAUTH2', 'DIGEST-MD5', 'PLAIN PLAIN', '')), eol),
    concat(verbOf('AUTHENTICATE'), fc.array(sieveString(word).map((s) => ` ${s}`), { maxLength: 4 }).map((a) => a.join('')), eol),
  );
};

export function sieveSegment(user: fc.Arbitrary<string> = credential, password: fc.Arbitrary<string> = credential): fc.Arbitrary<string> {
  return mutated(
    fc.oneof(
      { weight: 6, arbitrary: sieveAuthenticate(user, password) },
      {
        weight: 3,
        arbitrary: concat(
          verbOf('CAPABILITY', 'NOOP', 'STARTTLS', 'HAVESPACE', 'PUTSCRIPT', 'LISTSCRIPTS', 'SETACTIVE', 'GETSCRIPT', 'UNAUTHENTICATE', 'CAPA', 'NOOPX'),
          fc.array(fc.oneof(sieveString(word), word).map((a) => ` ${a}`), { maxLength: 3 }).map((a) => a.join('')),
          eol,
        ),
      },
      { weight: 1, arbitrary: concat(verbOf('NOOP'), text(' '), sieveString(fc.oneof(word, anyBytes(20))), eol) },
      { weight: 2, arbitrary: noise('NOOP') },
    ),
  );
}

export const segmentFor = (protocol: Protocol): fc.Arbitrary<string> =>
  ({ pop3: pop3Segment, imap: imapSegment, smtp: smtpSegment, sieve: sieveSegment })[protocol]();

/** What ends a session of the protocol, sent after the generated input. */
export const QUIT: Record<Protocol, string> = { pop3: 'QUIT', imap: 'zz LOGOUT', smtp: 'QUIT', sieve: 'LOGOUT' };

export const STARTTLS: Record<Protocol, { command: string; ok: RegExp }> = {
  pop3: { command: 'STLS', ok: /^\+OK/ },
  imap: { command: 's1 STARTTLS', ok: /^s1 OK/ },
  smtp: { command: 'STARTTLS', ok: /^220 / },
  // The greeting has several lines: its reply is the OK after them.
  sieve: { command: 'STARTTLS', ok: /(?:^|\r\n)OK "Begin TLS/ },
};

// ---------------------------------------------------------------- valid logins (auth_http and backend fuzzing)

/** A login the server accepts as such, for connection `index`: its user name carries the marker. */
export function loginFor(protocol: Protocol, index: number): fc.Arbitrary<string> {
  const user = printableWord.map((w) => `${marker(index)}${w.replace(/[^A-Za-z0-9._-]/g, '')}`);
  const password = fc.oneof(printableWord, cleanWord);
  const plain = fc.tuple(user, password).map(([u, p]) => b64(`\0${u}\0${p}`));
  const cram = fc.tuple(user, hex32).map(([u, d]) => b64(`${u} ${d}`));
  switch (protocol) {
    case 'pop3':
      return fc.oneof(
        concat(text('USER '), user, text('\r\nPASS '), password, text('\r\n')),
        concat(text('APOP '), user, text(' '), hex32, text('\r\n')),
        concat(text('AUTH PLAIN '), plain, text('\r\n')),
        concat(text('AUTH PLAIN\r\n'), plain, text('\r\n')),
        concat(text('AUTH LOGIN '), user.map(b64), text('\r\n'), password.map(b64), text('\r\n')),
        concat(text('AUTH CRAM-MD5\r\n'), cram, text('\r\n')),
      );
    case 'imap': {
      const tag = fc.string({ unit: fc.constantFrom(...'abc019'), minLength: 1, maxLength: 4 });
      return fc.oneof(
        concat(tag, text(' LOGIN '), user, text(' '), validImapArgument(password), text('\r\n')),
        concat(tag, text(' LOGIN '), user.map((u) => `{${u.length}+}\r\n${u}`), text(' "'), cleanWord, text('"\r\n')),
        concat(tag, text(' AUTHENTICATE PLAIN '), plain, text('\r\n')),
        concat(tag, text(' AUTHENTICATE PLAIN\r\n'), plain, text('\r\n')),
        concat(tag, text(' AUTHENTICATE LOGIN\r\n'), user.map(b64), text('\r\n'), password.map(b64), text('\r\n')),
        concat(tag, text(' AUTHENTICATE CRAM-MD5\r\n'), cram, text('\r\n')),
      );
    }
    case 'sieve': {
      const quoted = (encoded: fc.Arbitrary<string>) => encoded.map((e) => `"${e}"`);
      return fc.oneof(
        concat(text('AUTHENTICATE "PLAIN" '), quoted(plain), text('\r\n')),
        concat(text('AUTHENTICATE "PLAIN" '), plain.map((p) => `{${p.length}+}\r\n${p}`), text('\r\n')),
        concat(text('AUTHENTICATE "PLAIN"\r\n'), quoted(plain), text('\r\n')),
        concat(text('AUTHENTICATE "LOGIN"\r\n'), quoted(user.map(b64)), text('\r\n'), quoted(password.map(b64)), text('\r\n')),
        concat(text('authenticate "login" '), quoted(user.map(b64)), text('\r\n'), quoted(password.map(b64)), text('\r\n')),
        concat(text('AUTHENTICATE "CRAM-MD5"\r\n'), quoted(cram), text('\r\n')),
      );
    }
    case 'smtp': {
      const hello = fc.constantFrom('EHLO client.test\r\n', 'HELO client.test\r\n', '');
      return fc.oneof(
        concat(hello, text('AUTH PLAIN '), plain, text('\r\n')),
        concat(hello, text('AUTH LOGIN\r\n'), user.map(b64), text('\r\n'), password.map(b64), text('\r\n')),
        concat(hello, text('AUTH LOGIN '), user.map(b64), text('\r\n'), password.map(b64), text('\r\n')),
        concat(hello, text('AUTH CRAM-MD5\r\n'), cram, text('\r\n')),
        concat(hello, text('MAIL FROM:<'), user, text('@example.test>\r\nRCPT TO:<rcpt@example.test>\r\n')),
      );
    }
  }
}

// ---------------------------------------------------------------- auth service outcomes (behind authFor)

const failText = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('Invalid login or password', 'Temporary error', '[UNAVAILABLE] try later') },
  { weight: 1, arbitrary: word.map((w) => w.replace(/[\r\n]/g, '')) },
  { weight: 1, arbitrary: fc.constant('') },
);

export const outcomeSpec: fc.Arbitrary<OutcomeSpec> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<OutcomeSpec>({ kind: 'ok' }) },
  { weight: 1, arbitrary: fc.tuple(cleanWord, cleanWord).map(([user, password]): OutcomeSpec => ({ kind: 'okAs', user, password })) },
  { weight: 1, arbitrary: fc.constantFrom<OutcomeSpec>({ kind: 'okRefused' }, { kind: 'okBadServer' }) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(failText, fc.constantFrom(undefined, undefined, 0, 0.005, 0.02), fc.constantFrom(undefined, undefined, '535 5.7.8', '454 4.7.0'))
      .map(([text, waitSeconds, errorCode]): OutcomeSpec => ({
        kind: 'fail',
        text,
        ...(waitSeconds === undefined ? {} : { waitSeconds }),
        ...(errorCode === undefined ? {} : { errorCode }),
      })),
  },
  { weight: 1, arbitrary: fc.constantFrom(0, 0.005).map((waitSeconds): OutcomeSpec => ({ kind: 'wait', waitSeconds })) },
  { weight: 1, arbitrary: fc.constant<OutcomeSpec>({ kind: 'error' }) },
);

// ---------------------------------------------------------------- auth_http answers

/** Placeholders in generated answers, replaced with the case's real ports. */
export const BACKEND_PORT = '${BACKEND_PORT}';
export const REFUSED_PORT = '${REFUSED_PORT}';

const headerValueFor = (name: string): fc.Arbitrary<string> => {
  const junk = word.map((w) => w.replace(/[\r\n]/g, ''));
  switch (name) {
    case 'Auth-Status':
      return fc.oneof({ weight: 6, arbitrary: fc.constantFrom('OK', 'OK', 'WAIT', 'Invalid login or password', '') }, { weight: 1, arbitrary: fc.constantFrom('ok', ' OK', 'OK ', 'OKAY') }, { weight: 1, arbitrary: junk });
      case 'Auth-Server':
      return fc.oneof(
        { weight: 8, arbitrary: fc.constant('127.0.0.1') },
        { weight: 3, arbitrary: fc.constantFrom('::1', '127.0.0.2', '::ffff:127.0.0.1', '127.1', '127..0.1', '0127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:0:0:1') },
        { weight: 2, arbitrary: fc.constantFrom('localhost', '', '1.2.3.4.5', '[::1]', '255.255.255.255', '::1%lo', ':::', '1::2::3', '127.0.0.1:25') },
        { weight: 1, arbitrary: junk },
      );
    case 'Auth-Port':
      return fc.oneof(
        { weight: 8, arbitrary: fc.constant(BACKEND_PORT) },
        { weight: 2, arbitrary: fc.constant(REFUSED_PORT) },
        { weight: 2, arbitrary: fc.constantFrom('0', '65536', '-1', '+80', '1e3', 'abc', '', '99999999999999999999', `0${BACKEND_PORT}`) },
        { weight: 1, arbitrary: junk },
      );
    case 'Auth-Wait':
      // Mostly no wait at all: `Auth-Wait: 1` costs a second of the case's time.
      return fc.oneof({ weight: 30, arbitrary: fc.constantFrom('0', '00', ' 0', 'x', '', '-1', '1.5', '99999999999999999999') }, { weight: 1, arbitrary: fc.constant('1') });
    case 'Auth-User':
    case 'Auth-Pass':
      return fc.oneof({ weight: 3, arbitrary: cleanWord }, { weight: 1, arbitrary: junk }, { weight: 1, arbitrary: fc.constant('') });
    case 'Auth-Error-Code':
      return fc.oneof(fc.constantFrom('535 5.7.8', '454 4.7.0', '', '5'), junk);
    default:
      return junk;
  }
};

const KNOWN_HEADERS = ['Auth-Status', 'Auth-Server', 'Auth-Port', 'Auth-Wait', 'Auth-User', 'Auth-Pass', 'Auth-Error-Code'];

const headerName = fc.oneof(
  { weight: 10, arbitrary: fc.constantFrom(...KNOWN_HEADERS) },
  { weight: 2, arbitrary: fc.constantFrom('Content-Length', 'X-Fuzz', 'Auth-Salt', 'Server', 'Auth-SMTP-Helo') },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'aZ9-_ .:'), minLength: 1, maxLength: 10 }) },
);

const header = fc.tuple(headerName, fc.constantFrom('same', 'same', 'same', 'lower', 'upper')).chain(([name, casing]) =>
  fc.tuple(
    fc.constant(casing === 'lower' ? name.toLowerCase() : casing === 'upper' ? name.toUpperCase() : name),
    headerValueFor(name),
    fc.oneof({ weight: 10, arbitrary: fc.constant(': ') }, { weight: 1, arbitrary: fc.constantFrom(':', ':   ', ' : ', '', ':\t') }),
  ),
);

/** A structured answer: status line, headers, line ends, the empty line (or not), a body. */
const structuredAnswer = fc
  .record({
    status: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom('HTTP/1.0 200 OK', 'HTTP/1.1 200 OK') },
      { weight: 2, arbitrary: fc.constantFrom('HTTP/1.0 500 Internal Server Error', 'HTTP/', 'HTTX/1.0 200', 'HTTP/1.0 200 OK\rX', 'http/1.0 200 OK', '') },
    ),
    headers: fc.array(header, { maxLength: 8 }),
    eol: fc.oneof({ weight: 10, arbitrary: fc.constant('\r\n') }, { weight: 2, arbitrary: fc.constant('\n') }, { weight: 1, arbitrary: fc.constantFrom('\r', '\r\r\n', '\n\r') }),
    end: fc.oneof({ weight: 10, arbitrary: fc.constant('end') }, { weight: 1, arbitrary: fc.constantFrom('none', 'lf', 'garbage') }),
    body: fc.oneof({ weight: 4, arbitrary: fc.constant('') }, { weight: 1, arbitrary: anyBytes(100) }),
    pad: fc.oneof({ weight: 10, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 900, max: 1500 }) }),
  })
  .map(({ status, headers, eol, end, body, pad }) => {
    const lines: string[] = status === '' ? [] : [status];
    if (pad > 0) lines.push(`X-Pad: ${'p'.repeat(pad)}`);
    for (const [name, value, sep] of headers) lines.push(`${name}${sep}${value}`);
    const terminator = end === 'end' ? eol : end === 'lf' ? '\n' : end === 'garbage' ? '\0\r\n' : '';
    return lines.map((l) => l + eol).join('') + terminator + body;
  });

/** A typical good answer, so that many logins go on to the backend. */
const goodAnswer = fc
  .tuple(fc.constantFrom('', 'Auth-User: u\r\nAuth-Pass: p\r\n'), fc.constantFrom('HTTP/1.0 200 OK\r\n', ''))
  .map(([extra, status]) => `${status}Auth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: ${BACKEND_PORT}\r\n${extra}\r\n`);

const answerBytes = fc.oneof(
  { weight: 5, arbitrary: goodAnswer },
  { weight: 8, arbitrary: structuredAnswer },
  { weight: 1, arbitrary: anyBytes(200) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => Buffer.from(s, 'utf8').toString('latin1')) },
);

export const authHttpPlan: fc.Arbitrary<Omit<AuthHttpPlan, 'bytes'> & { text: string }> = fc.record({
  text: answerBytes,
  delayMs: fc.constantFrom(0, 0, 0, 1, 5),
  cuts: fc.array(fc.nat(), { maxLength: 6 }),
  paceMs: fc.constantFrom(0, 0, 0, 1, 3),
  then: fc.oneof(
    { weight: 12, arbitrary: fc.constant<AuthHttpPlan['then']>('close') },
    // An incomplete answer on a connection kept open, or none at all, waits out auth_http_timeout.
    { weight: 2, arbitrary: fc.constantFrom<AuthHttpPlan['then']>('keep', 'reset') },
    { weight: 1, arbitrary: fc.constant<AuthHttpPlan['then']>('hang') },
  ),
});

// ---------------------------------------------------------------- backend replies

const replyTexts: Record<Protocol, string[]> = {
  pop3: ['+OK\r\n', '+OK hello\r\n', '-ERR no\r\n', '-ERR [SYS/TEMP] busy\r\n', '+OKAY\r\n', '+O\r\n', '+\r\n', '+ \r\n', 'OK\r\n', '+OK\r\n+OK\r\n'],
  imap: [
    '* OK hi\r\n',
    '+ go\r\n',
    '+\r\n',
    '{TAG} OK done\r\n',
    '{TAG} NO [AUTHENTICATIONFAILED] no\r\n',
    '{TAG} BAD x\r\n',
    '* CAPABILITY IMAP4rev1\r\n{TAG} OK done\r\n',
    '* X\r\n* Y\r\n{TAG} OK done\r\n',
    '* BYE bye\r\n',
    'zz OK\r\n',
    '* OK\r\n',
    '{TAG} OK\r\n',
  ],
  sieve: [
    'OK\r\n',
    'OK "Logged in."\r\n',
    '"IMPLEMENTATION" "x"\r\n"SASL" "PLAIN"\r\nOK "ready"\r\n',
    'NO "Authentication failed."\r\n',
    'NO (TRYLATER) "busy"\r\n',
    'BYE "bye"\r\n',
    '""\r\n',
    '{5}\r\nOK ab\r\n',
    'OK {3}\r\na\nb\r\n',
    '"SASL" {9999}\r\n',
    'OKAY\r\n',
    '* OK\r\n',
  ],
  smtp: ['220 hi\r\n', '250 ok\r\n', '250-a\r\n250 b\r\n', '250-a\r\n', '235 ok\r\n', '535 5.7.8 no\r\n', '421 bye\r\n', '220-a\r\n220 b\r\n', '2\r\n', '250\r\n', '250 \r\n', '354 go\r\n'],
};

const replyBytes = (protocol: Protocol): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 16, arbitrary: fc.constantFrom(...replyTexts[protocol]) },
    { weight: 3, arbitrary: anyBytes(80).map((b) => `${b}\r\n`) },
    { weight: 2, arbitrary: word.map((w) => `${w}\r\n`) },
    // Replies the proxy waits on until `timeout` (no CRLF, LF only): rarer, each costs the case 300 ms.
    { weight: 1, arbitrary: fc.oneof(anyBytes(80), word, fc.constantFrom(...replyTexts[protocol]).map((t) => t.replace(/\r\n/g, '\n'))) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...replyTexts[protocol]), fc.integer({ min: 20, max: 9000 })).map(([t, n]) => `${t.slice(0, 4)}${'x'.repeat(n)}\r\n`) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 3000 }).map((n) => (protocol === 'smtp' ? '250-x\r\n' : '* x\r\n').repeat(n)) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...replyTexts[protocol]), anyBytes(40)).map(([t, extra]) => `${t}EXTRA\r\n${extra}`) },
  );

const replySpec = (protocol: Protocol): fc.Arbitrary<ReplySpec> =>
  fc.record({
    bytes: replyBytes(protocol),
    cuts: fc.array(fc.nat(), { maxLength: 5 }),
    paceMs: fc.constantFrom(0, 0, 0, 1, 3),
    then: fc.oneof(
      { weight: 10, arbitrary: fc.constant<ReplySpec['then']>('go') },
      { weight: 1, arbitrary: fc.constantFrom<ReplySpec['then']>('close', 'reset', 'stall') },
    ),
  });

export const backendScript = (protocol: Protocol): fc.Arbitrary<BackendScript> =>
  fc.record({
    replies: fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: replySpec(protocol) }), { maxLength: 6 }),
    after: fc.oneof(
      { weight: 8, arbitrary: fc.constant<BackendScript['after']>('behave') },
      { weight: 1, arbitrary: fc.constantFrom<BackendScript['after']>('close', 'silent', 'burst') },
    ),
  });
