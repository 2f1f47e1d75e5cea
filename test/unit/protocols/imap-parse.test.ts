import { describe, expect, it } from 'vitest';
import { cmd, frame, one, sasl } from './helpers.js';

const i = (line: string, bufferSize?: number): ReturnType<typeof one> =>
  one('imap', line, bufferSize === undefined ? {} : { bufferSize });
const cont = { type: 'literalContinuation' };

describe('IMAP tags (§5.1)', () => {
  it('1–32 chars of A-Za-z0-9-._ then SP; echoed exactly', () => {
    expect(i('a1 NOOP\r\n')).toEqual(cmd({ kind: 'noop', tag: 'a1' }));
    expect(i('A-z.0_9 NOOP\r\n')).toEqual(cmd({ kind: 'noop', tag: 'A-z.0_9' }));
    const y32 = 'y'.repeat(32);
    expect(i(`${y32} NOOP\r\n`)).toEqual(cmd({ kind: 'noop', tag: y32 }));
  });

  it('33 chars or another character → invalid without tag (reply uses *)', () => {
    expect(i(`${'x'.repeat(33)} NOOP\r\n`)).toEqual(cmd({ kind: 'invalid' }));
    expect(i('a+b NOOP\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(i('* NOOP\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(i('a\0 NOOP\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(i('\xe9 NOOP\r\n')).toEqual(cmd({ kind: 'invalid' }));
  });

  it('a line without SP after the tag is invalid without tag', () => {
    expect(i('NOTAG\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(i('\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(i('\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(i('a1\r\n')).toEqual(cmd({ kind: 'invalid' }));
  });

  it('line starting with a space → empty tag (nginx quirk)', () => {
    expect(i(' a9 NOOP\r\n')).toEqual(cmd({ kind: 'invalid', tag: '' }));
    expect(i(' NOOP\r\n')).toEqual(cmd({ kind: 'noop', tag: '' }));
  });

  it('spaces between tag and verb may repeat; tag then nothing is invalid with tag', () => {
    expect(i('a10  NOOP\r\n')).toEqual(cmd({ kind: 'noop', tag: 'a10' }));
    expect(i('a1 \r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a1' }));
    expect(i('a1    \n')).toEqual(cmd({ kind: 'invalid', tag: 'a1' }));
  });
});

describe('IMAP verbs (§5.1, §5.3)', () => {
  it('recognises the six verbs case-insensitively', () => {
    expect(i('t CAPABILITY\r\n')).toEqual(cmd({ kind: 'capability', tag: 't' }));
    expect(i('t capability extra args\r\n')).toEqual(cmd({ kind: 'capability', tag: 't' }));
    expect(i('t NoOp\r\n')).toEqual(cmd({ kind: 'noop', tag: 't' }));
    expect(i('t logout\r\n')).toEqual(cmd({ kind: 'quit', tag: 't' }));
    expect(i('t StartTLS\r\n')).toEqual(cmd({ kind: 'starttls', tag: 't' }));
    expect(i('t login a b\r\n')).toEqual(cmd({ kind: 'login', tag: 't', user: 'a', password: 'secret:b' }));
    expect(i('t authenticate plain\r\n')).toEqual(cmd({ kind: 'authenticate', tag: 't', mechanism: 'PLAIN' }));
  });

  it('other verbs → invalid with tag (counted)', () => {
    for (const verb of ['SELECT INBOX', 'ID NIL', 'ENABLE X', 'LOGINX', 'LOG', 'NOOP1', 'NO-OP', 'AUTHENTICATEX', 'STARTTL']) {
      expect(i(`a4 ${verb}\r\n`), verb).toEqual(cmd({ kind: 'invalid', tag: 'a4' }));
    }
  });

  it('verb with NUL/high bytes → invalid', () => {
    expect(i('a NO\0OP\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    expect(i('a NOOP\0\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
  });

  it('LOGIN needs exactly 2 args and a non-empty user, else refused (not counted)', () => {
    expect(i('a01 LOGIN\r\n')).toEqual(cmd({ kind: 'refused', tag: 'a01' }));
    expect(i('a LOGIN user\r\n')).toEqual(cmd({ kind: 'refused', tag: 'a' }));
    expect(i('a LOGIN u p x\r\n')).toEqual(cmd({ kind: 'refused', tag: 'a' }));
    expect(i('a LOGIN "" p\r\n')).toEqual(cmd({ kind: 'refused', tag: 'a' }));
    expect(i('a LOGIN u ""\r\n')).toEqual(cmd({ kind: 'login', tag: 'a', user: 'u', password: 'secret:' }));
  });

  it('AUTHENTICATE: no mechanism refused; mech [initial]; 3 args / CRAM-MD5 + initial refused', () => {
    expect(i('1 AUTHENTICATE\r\n')).toEqual(cmd({ kind: 'refused', tag: '1' }));
    expect(i('1 AUTHENTICATE PLAIN AHRlc3QAc2VjcmV0\r\n')).toEqual(
      cmd({ kind: 'authenticate', tag: '1', mechanism: 'PLAIN', initialResponse: 'secret:AHRlc3QAc2VjcmV0' }),
    );
    expect(i('1 AUTHENTICATE login a b\r\n')).toEqual(cmd({ kind: 'refused', tag: '1' }));
    expect(i('1 AUTHENTICATE CRAM-MD5 x\r\n')).toEqual(cmd({ kind: 'refused', tag: '1' }));
    expect(i('1 AUTHENTICATE "external"\r\n')).toEqual(cmd({ kind: 'authenticate', tag: '1', mechanism: 'EXTERNAL' }));
  });

  it('at most 3 arguments; a 4th → invalid (counted, with tag)', () => {
    expect(i('a CAPABILITY 1 2 3\r\n')).toEqual(cmd({ kind: 'capability', tag: 'a' }));
    expect(i('a CAPABILITY 1 2 3 4\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    expect(i('a LOGIN a b c "d"\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    expect(i('a LOGIN a b c {1}\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
  });
});

describe('IMAP arguments (§5.2)', () => {
  it('atoms run to SP/CR/LF; quotes and backslashes are ordinary inside them', () => {
    expect(i('a LOGIN us"er pa\\ss\r\n')).toEqual(cmd({ kind: 'login', tag: 'a', user: 'us"er', password: 'secret:pa\\ss' }));
    expect(i('a LOGIN u{3} p\r\n')).toEqual(cmd({ kind: 'login', tag: 'a', user: 'u{3}', password: 'secret:p' }));
  });

  it('quoted strings: spaces inside, backslash escapes removed', () => {
    expect(i('a LOGIN "a b" "c d"\r\n')).toEqual(cmd({ kind: 'login', tag: 'a', user: 'a b', password: 'secret:c d' }));
    // nginx-tests mail_imap.t 20
    expect(i('a01 LOGIN "te\\\\\\"st@example.com" "se\\\\\\"cret"\r\n')).toEqual(
      cmd({ kind: 'login', tag: 'a01', user: 'te\\"st@example.com', password: 'secret:se\\"cret' }),
    );
    expect(i('a LOGIN "\\a\\b" x\r\n')).toEqual(cmd({ kind: 'login', tag: 'a', user: 'ab', password: 'secret:x' }));
    // §5.5: client "sec\\ret\"x" → sec\ret"x
    expect(i('a LOGIN u "sec\\\\ret\\"x"\r\n')).toEqual(cmd({ kind: 'login', tag: 'a', user: 'u', password: 'secret:sec\\ret"x' }));
  });

  it('a new argument may start right after the closing quote', () => {
    expect(i('a LOGIN "u"p\r\n')).toEqual(cmd({ kind: 'login', tag: 'a', user: 'u', password: 'secret:p' }));
    expect(i('a LOGIN "u""p"\r\n')).toEqual(cmd({ kind: 'login', tag: 'a', user: 'u', password: 'secret:p' }));
  });

  it('CR/LF right after a backslash, or an unterminated quoted string → invalid', () => {
    expect(i('a LOGIN "u\\\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    expect(i('a LOGIN "u\\\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    expect(i('a LOGIN "user pass\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    // the next command is unaffected
    expect(frame('imap', 'a LOGIN "x\r\nb NOOP a b\r\n')).toEqual([
      cmd({ kind: 'invalid', tag: 'a' }),
      cmd({ kind: 'noop', tag: 'b' }),
    ]);
  });

  it('quoted strings carry binary bytes unchanged', () => {
    expect(i('a LOGIN "\xe9\0\x01" p\r\n')).toEqual(cmd({ kind: 'login', tag: 'a', user: '\xe9\0\x01', password: 'secret:p' }));
  });
});

describe('IMAP literals (§5.2)', () => {
  it('synchronising literal: continuation once, then exactly N raw bytes (nginx-tests 21–23)', () => {
    expect(frame('imap', 'a01 LOGIN {18}\r\nte\\"st@example.com {8}\r\nse\\"cret\r\n')).toEqual([
      cont,
      cont,
      cmd({ kind: 'login', tag: 'a01', user: 'te\\"st@example.com', password: 'secret:se\\"cret' }),
    ]);
  });

  it('the continuation comes as soon as the header is complete, before the data arrives', () => {
    expect(frame('imap', ['b1 LOGIN {16}\r\n', 'test@example.com {6}\r\n', 'secret\r\n'])).toEqual([
      cont,
      cont,
      cmd({ kind: 'login', tag: 'b1', user: 'test@example.com', password: 'secret:secret' }),
    ]);
    expect(frame('imap', ['b1 LOGIN {16}\r', '\n'])).toEqual([cont]);
    expect(frame('imap', ['b1 LOGIN {16}'])).toEqual([]);
  });

  it('non-synchronising literal: no continuation (nginx-tests 24, 25)', () => {
    expect(frame('imap', 'a01 LOGIN {18+}\r\nte\\"st@example.com {8+}\r\nse\\"cret\r\n')).toEqual([
      cmd({ kind: 'login', tag: 'a01', user: 'te\\"st@example.com', password: 'secret:se\\"cret' }),
    ]);
    expect(frame('imap', 'a01 LOGIN {18+}\r\nte\\"st@example.com "se\\\\\\"cret"\r\n')).toEqual([
      cmd({ kind: 'login', tag: 'a01', user: 'te\\"st@example.com', password: 'secret:se\\"cret' }),
    ]);
  });

  it('literal data is raw: CR, LF, quotes, NUL, spaces, braces', () => {
    const data = 'a\r\nb "c" \0{3}\n';
    expect(frame('imap', `a LOGIN {${data.length}+}\r\n${data} p\r\n`)).toEqual([
      cmd({ kind: 'login', tag: 'a', user: data, password: 'secret:p' }),
    ]);
  });

  it('bare LF after the header works; only one CR is allowed before it', () => {
    expect(frame('imap', 'a LOGIN {1+}\nu {1+}\np\n')).toEqual([cmd({ kind: 'login', tag: 'a', user: 'u', password: 'secret:p' })]);
    expect(frame('imap', 'a LOGIN {1+}\r\r\nu p\r\n')).toEqual([
      cmd({ kind: 'invalid', tag: 'a' }),
      cmd({ kind: 'invalid', tag: 'u' }), // the literal was never read: "u p" is the next line
    ]);
  });

  it('the header must end the line: anything between "}" and CRLF is invalid', () => {
    expect(i('a LOGIN {3} x\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    expect(i('a LOGIN {3}x\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
  });

  it('after a literal only SP, CRLF or LF may follow', () => {
    expect(frame('imap', 'a LOGIN {1+}\r\nuX p\r\n')).toEqual([cmd({ kind: 'invalid', tag: 'a' })]);
    expect(frame('imap', 'a LOGIN {1+}\r\nu"p"\r\n')).toEqual([cmd({ kind: 'invalid', tag: 'a' })]);
    expect(frame('imap', 'a LOGIN {1+}\r\nu\rp\r\n')).toEqual([cmd({ kind: 'invalid', tag: 'a' })]);
    expect(frame('imap', 'a LOGIN {1+}\r\nu  p  \r\n')).toEqual([cmd({ kind: 'login', tag: 'a', user: 'u', password: 'secret:p' })]);
    expect(frame('imap', 'a LOGIN u {1+}\r\np\n')).toEqual([cmd({ kind: 'login', tag: 'a', user: 'u', password: 'secret:p' })]);
  });

  it('malformed headers are invalid: no digits, non-digits, "+" not before "}"', () => {
    for (const header of ['{}', '{a}', '{1a}', '{-1}', '{1+2}', '{ 1}', '{1 }']) {
      expect(i(`a LOGIN u ${header}\r\n`), header).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    }
    // nginx's close rule only looks at "+}" before the line end
    for (const header of ['{+}', '{1++}', '{x+}']) {
      expect(i(`a LOGIN u ${header}\r\n`), header).toEqual(cmd({ kind: 'invalid', tag: 'a', closeAfter: true }));
    }
  });

  it('{0}: an empty argument; sync {0} still gets its continuation (nginx mis-parses it)', () => {
    expect(frame('imap', 'a LOGIN u {0}\r\n\r\nb NOOP\r\n')).toEqual([
      cont,
      cmd({ kind: 'login', tag: 'a', user: 'u', password: 'secret:' }),
      cmd({ kind: 'noop', tag: 'b' }),
    ]);
    expect(frame('imap', 'a LOGIN {0+}\r\n {0+}\r\n\r\n')).toEqual([cmd({ kind: 'refused', tag: 'a' })]);
    expect(frame('imap', 'a LOGIN u {00+}\r\nX\r\n')).toEqual([cmd({ kind: 'invalid', tag: 'a' })]);
  });

  it('leading zeros are fine', () => {
    expect(frame('imap', 'a LOGIN u {003+}\r\npwd\r\n')).toEqual([cmd({ kind: 'login', tag: 'a', user: 'u', password: 'secret:pwd' })]);
  });

  it('overflowing lengths are rejected as invalid (not wrapped)', () => {
    // 2^64 would wrap to 0 in nginx's size_t arithmetic
    expect(i('a LOGIN u {18446744073709551616}\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    expect(i('a LOGIN u {18446744073709551617+}\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a', closeAfter: true }));
    expect(i(`a LOGIN u {${'9'.repeat(40)}}\r\n`)).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    // the guard is SIZE_MAX/10 before every byte, like nginx
    expect(i('a LOGIN u {1844674407370955162}\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
  });

  it('an oversized literal is invited like nginx does, then tooLong (with the tag) once the buffer is full', () => {
    const filler = 'x'.repeat(4096);
    expect(frame('imap', `a LOGIN u {1844674407370955161}\r\n${filler}`)).toEqual([cont, { type: 'tooLong', tag: 'a' }]);
    expect(frame('imap', `z LOGIN {999999}\r\n${filler}`)).toEqual([cont, { type: 'tooLong', tag: 'z' }]);
    expect(frame('imap', `z LOGIN {999999+}\r\n${filler}`)).toEqual([{ type: 'tooLong', tag: 'z' }]);
  });

  it('literals as the SASL continuation line follow the same grammar', () => {
    expect(frame('imap', 'abc {2}\r\nxy\r\n', { mode: sasl })).toEqual([
      cont,
      cmd({ kind: 'saslResponse', response: 'secret:abc' }),
    ]);
  });
});

describe('IMAP invalid commands ending in a non-synchronising literal (§5.2, nginx-tests 28–29)', () => {
  it('a03 FOOBAR {10+} → invalid with closeAfter', () => {
    const items = frame('imap', 'a03 FOOBAR {10+}\r\ntest test \r\na04 NOOP\r\n');
    expect(items[0]).toEqual(cmd({ kind: 'invalid', tag: 'a03', closeAfter: true }));
  });

  it('also with bare LF; not for a sync literal or a valid command', () => {
    expect(frame('imap', 'd1 FOOBAR {10+}\n')).toEqual([cmd({ kind: 'invalid', tag: 'd1', closeAfter: true })]);
    expect(frame('imap', 'd1 FOOBAR {10}\r\n')).toEqual([cmd({ kind: 'invalid', tag: 'd1' })]);
    expect(frame('imap', `${'x'.repeat(40)} NOOP {5+}\r\n`)).toEqual([cmd({ kind: 'invalid', closeAfter: true })]);
    expect(frame('imap', 'a SELECT a b c d {5+}\r\n')).toEqual([cmd({ kind: 'invalid', tag: 'a', closeAfter: true })]);
  });

  it('an invalid line that only contains "{N+}" elsewhere is not closed', () => {
    expect(frame('imap', 'a FOO {5+} x\r\n')).toEqual([cmd({ kind: 'invalid', tag: 'a' })]);
  });
});

describe('IMAP line rules (§3.2)', () => {
  it('bare LF; CR only before LF; CR may arrive in a separate chunk', () => {
    expect(i('a NOOP\n')).toEqual(cmd({ kind: 'noop', tag: 'a' }));
    expect(i('a NOOP\rX\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    expect(i('a LOGIN u\rp\r\n')).toEqual(cmd({ kind: 'invalid', tag: 'a' }));
    expect(frame('imap', ['z7 NOOP\r', '\n'])).toEqual([cmd({ kind: 'noop', tag: 'z7' })]);
  });

  it('pipelined invalid command with arguments then NOOP (nginx-tests 26–27)', () => {
    expect(frame('imap', 'a01 INVALID COMMAND WITH ARGUMENTS\r\na02 NOOP\r\n')).toEqual([
      cmd({ kind: 'invalid', tag: 'a01' }),
      cmd({ kind: 'noop', tag: 'a02' }),
    ]);
  });

  it('pipelined LOGIN then LOGOUT (nginx-tests 30–31): the second stays framable', () => {
    expect(frame('imap', 'a01 LOGIN test@example.com secret\r\na02 LOGOUT\r\n')).toEqual([
      cmd({ kind: 'login', tag: 'a01', user: 'test@example.com', password: 'secret:secret' }),
      cmd({ kind: 'quit', tag: 'a02' }),
    ]);
  });
});

describe('IMAP SASL continuation lines', () => {
  it('the response is the text up to the first space/CR/LF; quotes are ordinary', () => {
    expect(one('imap', 'dGVzdA==\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:dGVzdA==' }));
    expect(one('imap', '"abc" def\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:"abc"' }));
    expect(one('imap', '\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:' }));
    expect(one('imap', '*\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:*' }));
    expect(one('imap', 'a1 NOOP\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:a1' }));
  });

  it('invalid SASL lines carry no tag (the machine uses the AUTHENTICATE tag)', () => {
    expect(one('imap', 'ab\rc\r\n', { mode: sasl })).toEqual(cmd({ kind: 'invalid' }));
    expect(one('imap', 'a b c d\r\n', { mode: sasl })).toEqual(cmd({ kind: 'invalid' }));
  });
});

describe('§17 IMAP transcript (parse side)', () => {
  it('frames the client lines as expected', () => {
    const y32 = 'y'.repeat(32);
    const x33 = 'x'.repeat(33);
    expect(
      frame(
        'imap',
        `a1 CAPABILITY\r\na2 NOOP\r\na3 STARTTLS\r\na4 SELECT INBOX\r\nNOTAG\r\n${x33} NOOP\r\n${y32} NOOP\r\na10  NOOP\r\ne1 LOGOUT\r\nf1 LOGIN wait1 x\r\nz3 AUTHENTICATE LOGIN\r\n`,
      ),
    ).toEqual([
      cmd({ kind: 'capability', tag: 'a1' }),
      cmd({ kind: 'noop', tag: 'a2' }),
      cmd({ kind: 'starttls', tag: 'a3' }),
      cmd({ kind: 'invalid', tag: 'a4' }),
      cmd({ kind: 'invalid' }),
      cmd({ kind: 'invalid' }),
      cmd({ kind: 'noop', tag: y32 }),
      cmd({ kind: 'noop', tag: 'a10' }),
      cmd({ kind: 'quit', tag: 'e1' }),
      cmd({ kind: 'login', tag: 'f1', user: 'wait1', password: 'secret:x' }),
      cmd({ kind: 'authenticate', tag: 'z3', mechanism: 'LOGIN' }),
    ]);
  });
});
