import { describe, expect, it } from 'vitest';
import { cmd, frame, one, sasl } from './helpers.js';

const p = (line: string): ReturnType<typeof one> => one('pop3', line);
const invalid = cmd({ kind: 'invalid' });
const refused = cmd({ kind: 'refused' });

describe('POP3 verbs (§4.2)', () => {
  it('recognises the 8 verbs case-insensitively', () => {
    expect(p('QUIT\r\n')).toEqual(cmd({ kind: 'quit' }));
    expect(p('quit\r\n')).toEqual(cmd({ kind: 'quit' }));
    expect(p('CaPa\r\n')).toEqual(cmd({ kind: 'capability' }));
    expect(p('noop\r\n')).toEqual(cmd({ kind: 'noop' }));
    expect(p('STLS\r\n')).toEqual(cmd({ kind: 'starttls' }));
    expect(p('user x\r\n')).toEqual(cmd({ kind: 'user', user: 'x' }));
    expect(p('pass y\r\n')).toEqual(cmd({ kind: 'pass', password: 'secret:y' }));
    expect(p('apop u d\r\n')).toEqual(cmd({ kind: 'apop', user: 'u', digest: 'secret:d' }));
    expect(p('auth\r\n')).toEqual(cmd({ kind: 'authList' }));
  });

  it('anything else is a (counted) invalid command', () => {
    for (const verb of ['STAT', 'LIST', 'RETR', 'DELE', 'RSET', 'TOP', 'UIDL', 'LAST', 'XTND', 'USERX', 'USE', 'CAPABILITY', 'STARTTLS', 'U5ER', 'US-R']) {
      expect(p(`${verb}\r\n`), verb).toEqual(invalid);
      expect(p(`${verb} arg\r\n`), verb).toEqual(invalid);
    }
  });

  it('verbs must be letters only (NUL, digits, high bytes → invalid)', () => {
    expect(p('NO\0P\r\n')).toEqual(invalid);
    expect(p('NOOP\0\r\n')).toEqual(invalid);
    expect(p('N\xd6OP\r\n')).toEqual(invalid);
    expect(p('\xff\xfe\r\n')).toEqual(invalid);
  });

  it('empty line and leading whitespace are invalid (§3.2)', () => {
    expect(p('\r\n')).toEqual(invalid);
    expect(p('\n')).toEqual(invalid);
    expect(p(' NOOP\r\n')).toEqual(invalid);
    expect(p('\tNOOP\r\n')).toEqual(invalid);
  });

  it('bare LF ends a command; CR only right before LF', () => {
    expect(p('noop\n')).toEqual(cmd({ kind: 'noop' }));
    expect(p('NOOP\rX\r\n')).toEqual(invalid);
    expect(p('NOOP\r\r\n')).toEqual(invalid);
    expect(p('USER a\rb\r\n')).toEqual(invalid);
    expect(p('APOP a\rb c\r\n')).toEqual(invalid);
    expect(frame('pop3', ['NOOP\r', '\n'])).toEqual([cmd({ kind: 'noop' })]);
  });

  it('trailing and repeated spaces are ignored (not for USER/PASS)', () => {
    expect(p('NOOP   \r\n')).toEqual(cmd({ kind: 'noop' }));
    expect(p('APOP   u    d   \r\n')).toEqual(cmd({ kind: 'apop', user: 'u', digest: 'secret:d' }));
    expect(p('AUTH  plain   abc \r\n')).toEqual(
      cmd({ kind: 'authenticate', mechanism: 'PLAIN', initialResponse: 'secret:abc' }),
    );
  });

  it('capability/noop/quit/stls ignore their arguments', () => {
    expect(p('CAPA x y z\r\n')).toEqual(cmd({ kind: 'capability' }));
    expect(p('QUIT now\r\n')).toEqual(cmd({ kind: 'quit' }));
    expect(p('STLS x\r\n')).toEqual(cmd({ kind: 'starttls' }));
  });

  it('at most 3 arguments at parse level (4th → counted invalid)', () => {
    expect(p('CAPA a b c\r\n')).toEqual(cmd({ kind: 'capability' }));
    expect(p('CAPA a b c d\r\n')).toEqual(invalid);
    expect(p('NOOP 1 2 3 4\r\n')).toEqual(invalid);
    expect(p('APOP a b c d\r\n')).toEqual(invalid);
    expect(p('CAPA a b c    \r\n')).toEqual(cmd({ kind: 'capability' }));
  });
});

describe('POP3 USER/PASS argument quirks (§4.3)', () => {
  it('the whole remainder after the first space(s) is the argument', () => {
    expect(p('USER a b c\r\n')).toEqual(cmd({ kind: 'user', user: 'a b c' }));
    expect(p('USER    spaced  name  \r\n')).toEqual(cmd({ kind: 'user', user: 'spaced  name  ' }));
    expect(p('PASS  se cret \r\n')).toEqual(cmd({ kind: 'pass', password: 'secret:se cret ' }));
    expect(p('USER a b c d e f\r\n')).toEqual(cmd({ kind: 'user', user: 'a b c d e f' }));
  });

  it('USER/PASS without argument → refused (handler-level, not counted)', () => {
    expect(p('USER\r\n')).toEqual(refused);
    expect(p('USER   \r\n')).toEqual(refused);
    expect(p('PASS\r\n')).toEqual(refused);
    expect(p('pass \n')).toEqual(refused);
  });

  it('binary bytes in USER/PASS are kept byte-exact (latin1)', () => {
    expect(p('USER \xe9\0\xff\t%\r\n')).toEqual(cmd({ kind: 'user', user: '\xe9\0\xff\t%' }));
    expect(p('PASS \x01\x7f\x80\r\n')).toEqual(cmd({ kind: 'pass', password: 'secret:\x01\x7f\x80' }));
  });
});

describe('POP3 APOP and AUTH', () => {
  it('APOP needs exactly 2 arguments', () => {
    expect(p('APOP\r\n')).toEqual(refused);
    expect(p('APOP test@example.com\r\n')).toEqual(refused);
    expect(p('APOP a b c\r\n')).toEqual(refused);
    expect(p(`APOP test@example.com ${'0'.repeat(32)}\r\n`)).toEqual(
      cmd({ kind: 'apop', user: 'test@example.com', digest: `secret:${'0'.repeat(32)}` }),
    );
  });

  it('AUTH mech [initial] → authenticate, mechanism upper-cased', () => {
    expect(p('AUTH PLAIN\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'PLAIN' }));
    expect(p('auth login dGVzdA==\r\n')).toEqual(
      cmd({ kind: 'authenticate', mechanism: 'LOGIN', initialResponse: 'secret:dGVzdA==' }),
    );
    expect(p('AUTH cram-md5\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'CRAM-MD5' }));
    expect(p('AUTH XUNKNOWN\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'XUNKNOWN' }));
  });

  it('AUTH with 3 arguments, or CRAM-MD5 with an initial response → refused (nginx ngx_mail_auth_parse)', () => {
    expect(p('AUTH LOGIN a b\r\n')).toEqual(refused);
    expect(p('AUTH PLAIN a b\r\n')).toEqual(refused);
    expect(p('AUTH CRAM-MD5 x\r\n')).toEqual(refused);
    expect(p('AUTH LOGIN a b c\r\n')).toEqual(invalid);
  });
});

describe('POP3 SASL continuation lines (§3.2)', () => {
  it('the response is everything up to the first space/CR/LF', () => {
    expect(one('pop3', 'dGVzdA==\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:dGVzdA==' }));
    expect(one('pop3', 'abc def\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:abc' }));
    expect(one('pop3', '\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:' }));
    expect(one('pop3', '\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:' }));
    expect(one('pop3', ' abc\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:' }));
  });

  it('"*" is just a response (no cancel); verbs are not recognised', () => {
    expect(one('pop3', '*\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:*' }));
    expect(one('pop3', 'QUIT\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:QUIT' }));
  });

  it('the same line rules apply: CR not before LF and a 4th word are invalid', () => {
    expect(one('pop3', 'ab\rc\r\n', { mode: sasl })).toEqual(invalid);
    expect(one('pop3', 'a b c\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:a' }));
    expect(one('pop3', 'a b c d\r\n', { mode: sasl })).toEqual(invalid);
  });
});

describe('POP3 nginx-tests mail_pop3.t and §17 transcripts (parse side)', () => {
  it('21–22: pipelined invalid command with arguments, then NOOP', () => {
    expect(frame('pop3', 'INVALID COMMAND WITH ARGUMENTS\r\nNOOP\r\n')).toEqual([invalid, cmd({ kind: 'noop' })]);
  });

  it('23–25: pipelined USER, PASS, QUIT', () => {
    expect(frame('pop3', 'USER test@example.com\r\nPASS secret\r\nQUIT\r\n')).toEqual([
      cmd({ kind: 'user', user: 'test@example.com' }),
      cmd({ kind: 'pass', password: 'secret:secret' }),
      cmd({ kind: 'quit' }),
    ]);
  });

  it('26–28: pipelined AUTH LOGIN, b64 user, b64 pass (machine switches to sasl mode)', () => {
    let n = 0;
    const items = frame('pop3', 'AUTH LOGIN\r\ndGVzdEBleGFtcGxlLmNvbQ==\r\nc2VjcmV0\r\n', {
      mode: () => (n++ === 0 ? 'command' : 'sasl'),
    });
    expect(items).toEqual([
      cmd({ kind: 'authenticate', mechanism: 'LOGIN' }),
      cmd({ kind: 'saslResponse', response: 'secret:dGVzdEBleGFtcGxlLmNvbQ==' }),
      cmd({ kind: 'saslResponse', response: 'secret:c2VjcmV0' }),
    ]);
  });

  it('§17 transcript lines', () => {
    expect(frame('pop3', 'CAPA\r\nAUTH\r\nSTLS\r\nSTAT\r\nUSER a b c\r\nFOO\r\nPASS x\r\n')).toEqual([
      cmd({ kind: 'capability' }),
      cmd({ kind: 'authList' }),
      cmd({ kind: 'starttls' }),
      invalid,
      cmd({ kind: 'user', user: 'a b c' }),
      invalid,
      cmd({ kind: 'pass', password: 'secret:x' }),
    ]);
    expect(p('AUTH PLAIN !!!\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'PLAIN', initialResponse: 'secret:!!!' }));
  });

  it('§3.6 max_errors example: FOO, USER, PASS, BAR, BAZ', () => {
    expect(frame('pop3', 'FOO\r\nUSER\r\nPASS\r\nBAR\r\nBAZ\r\n')).toEqual([invalid, refused, refused, invalid, invalid]);
  });
});
