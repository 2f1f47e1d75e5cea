/**
 * The ManageSieve scanner (src/protocols/sieve/parse.ts) through the real framer: verbs,
 * strings (quoted and literal), SASL continuation lines, the buffer bound.
 */
import { describe, expect, it } from 'vitest';
import { cmd, frame, one, sasl } from './helpers.js';

const s = (line: string, bufferSize?: number): ReturnType<typeof one> =>
  one('sieve', line, bufferSize === undefined ? {} : { bufferSize });
const b64 = (text: string): string => Buffer.from(text, 'latin1').toString('base64');

describe('ManageSieve verbs (RFC 5804 §2)', () => {
  it('recognises the five pre-login verbs case-insensitively, CRLF or bare LF', () => {
    expect(s('CAPABILITY\r\n')).toEqual(cmd({ kind: 'capability' }));
    expect(s('capability\n')).toEqual(cmd({ kind: 'capability' }));
    expect(s('Noop\r\n')).toEqual(cmd({ kind: 'noop' }));
    expect(s('LOGOUT\r\n')).toEqual(cmd({ kind: 'quit' }));
    expect(s('StartTls\r\n')).toEqual(cmd({ kind: 'starttls' }));
    expect(s('AUTHENTICATE "PLAIN"\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'PLAIN' }));
  });

  it('NOOP takes one optional string, its echo tag', () => {
    expect(s('NOOP "tag1"\r\n')).toEqual(cmd({ kind: 'noop', tag: 'tag1' }));
    expect(s('NOOP {3+}\r\nx y\r\n')).toEqual(cmd({ kind: 'noop', tag: 'x y' }));
    expect(s('NOOP "a" "b"\r\n')).toEqual(cmd({ kind: 'invalid' }));
  });

  it('commands of the authenticated state and unknown verbs are invalid (counted)', () => {
    for (const line of ['PUTSCRIPT "a" {1+}', 'LISTSCRIPTS', 'HAVESPACE "a" 1', 'UNAUTHENTICATE', 'FOO', 'NOOP1', 'LOGOUTX', 'CAPABILITYX']) {
      expect(s(`${line}\r\n`), line).toEqual(cmd({ kind: 'invalid', ...(line.endsWith('+}') ? { closeAfter: true } : {}) }));
    }
  });

  it('a leading space, an empty line, a lone CR or a byte outside letters in the verb is invalid', () => {
    for (const line of [' NOOP\r\n', '\r\n', '\n', 'NO\rOP\r\n', 'NOOP\r\r\n', 'NO-OP\r\n', 'N\0OP\r\n', '\xe9\r\n']) {
      expect(s(line), JSON.stringify(line)).toEqual(cmd({ kind: 'invalid' }));
    }
  });

  it('arguments where none are allowed are invalid (Dovecot counts them too)', () => {
    expect(s('CAPABILITY "x"\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(s('LOGOUT "x"\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(s('STARTTLS "x"\r\n')).toEqual(cmd({ kind: 'invalid' }));
  });

  it('trailing spaces and repeated spaces between arguments are accepted', () => {
    expect(s('NOOP  \r\n')).toEqual(cmd({ kind: 'noop' }));
    expect(s('AUTHENTICATE   "plain"  "AGEAYg=="  \r\n')).toEqual(
      cmd({ kind: 'authenticate', mechanism: 'PLAIN', initialResponse: 'secret:AGEAYg==' }),
    );
  });
});

describe('AUTHENTICATE (RFC 5804 §2.1)', () => {
  it('mechanism and initial response as quoted strings or literals, mechanism upper-cased', () => {
    const ir = b64('\0alice\0secret');
    const want = cmd({ kind: 'authenticate', mechanism: 'PLAIN', initialResponse: `secret:${ir}` });
    expect(s(`AUTHENTICATE "plain" "${ir}"\r\n`)).toEqual(want);
    expect(s(`AUTHENTICATE {5+}\r\nPLAIN {${ir.length}+}\r\n${ir}\r\n`)).toEqual(want);
    expect(s(`AUTHENTICATE "PLAIN" {${ir.length}}\r\n${ir}\r\n`)).toEqual(want);
    expect(s(`AUTHENTICATE "PLAIN" {${ir.length}+}\n${ir}\n`)).toEqual(want);
    expect(s('AUTHENTICATE "LOGIN"\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'LOGIN' }));
    expect(s('AUTHENTICATE "EXTERNAL" "="\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'EXTERNAL', initialResponse: 'secret:=' }));
  });

  it('an empty initial response is kept (the machine decides it is no valid PLAIN message)', () => {
    expect(s('AUTHENTICATE "PLAIN" ""\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'PLAIN', initialResponse: 'secret:' }));
    expect(s('AUTHENTICATE "PLAIN" {0+}\r\n\r\n')).toEqual(cmd({ kind: 'authenticate', mechanism: 'PLAIN', initialResponse: 'secret:' }));
  });

  it('no mechanism, an empty one, an atom or a third argument is invalid', () => {
    for (const line of ['AUTHENTICATE', 'AUTHENTICATE ""', 'AUTHENTICATE PLAIN', 'AUTHENTICATE "PLAIN" AGE=', 'AUTHENTICATE "PLAIN" "a" "b"']) {
      expect(s(`${line}\r\n`), line).toEqual(cmd({ kind: 'invalid' }));
    }
  });

  it('CRAM-MD5 with an initial response is refused (classifyAuthenticate, not counted)', () => {
    expect(s('AUTHENTICATE "CRAM-MD5" "x"\r\n')).toEqual(cmd({ kind: 'refused' }));
  });
});

describe('strings', () => {
  it('quoted strings: \\" and \\\\ are the only escapes; 8-bit bytes pass as they are', () => {
    expect(s('NOOP "a\\"b\\\\c"\r\n')).toEqual(cmd({ kind: 'noop', tag: 'a"b\\c' }));
    expect(s('NOOP "caf\xc3\xa9"\r\n')).toEqual(cmd({ kind: 'noop', tag: 'caf\xc3\xa9' }));
    expect(s('NOOP "a\\nb"\r\n')).toEqual(cmd({ kind: 'invalid' }));
  });

  it('CR, LF or NUL inside a quoted string, or an unterminated one, is invalid', () => {
    expect(s('NOOP "a\0b"\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(s('NOOP "ab\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(frame('sieve', 'NOOP "a\nNOOP\r\n')).toEqual([cmd({ kind: 'invalid' }), cmd({ kind: 'noop' })]);
  });

  it('literal bytes are raw: CR, LF, quotes and NUL inside are data', () => {
    expect(s('NOOP {6+}\r\na\r\n"\0b\r\n')).toEqual(cmd({ kind: 'noop', tag: 'a\r\n"\0b' }));
  });

  it('a malformed literal header is invalid', () => {
    for (const line of ['NOOP {}', 'NOOP {+}', 'NOOP {1x}', 'NOOP {1+x}', 'NOOP {-1}', 'NOOP {1}x']) {
      expect(s(`${line}\r\n`), line).toEqual(cmd({ kind: 'invalid' }));
    }
  });

  it('something other than SP or the line end after a string is invalid', () => {
    expect(s('NOOP "a"b\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(s('NOOP {1+}\r\nab\r\n')).toEqual(cmd({ kind: 'invalid' }));
  });

  it('an invalid line ending in a literal header is closeAfter: the literal is never run as commands', () => {
    expect(s('PUTSCRIPT "x" {12+}\r\n')).toEqual(cmd({ kind: 'invalid', closeAfter: true }));
    expect(s('PUTSCRIPT "x" {12}\n')).toEqual(cmd({ kind: 'invalid', closeAfter: true }));
    expect(s('FOO {x}\r\n')).toEqual(cmd({ kind: 'invalid' }));
    expect(s('FOO }\r\n')).toEqual(cmd({ kind: 'invalid' }));
  });
});

describe('SASL continuation lines (sasl mode)', () => {
  it('one string, quoted or literal; "*" arrives as the response *', () => {
    expect(one('sieve', '"dXNlcg=="\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:dXNlcg==' }));
    expect(one('sieve', '{8+}\r\ndXNlcg==\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:dXNlcg==' }));
    expect(one('sieve', '{8}\r\ndXNlcg==\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:dXNlcg==' }));
    expect(one('sieve', '"*"\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:*' }));
    expect(one('sieve', '""\r\n', { mode: sasl })).toEqual(cmd({ kind: 'saslResponse', response: 'secret:' }));
  });

  it('an empty line, a bare atom or two strings is invalid', () => {
    for (const line of ['\r\n', 'dXNlcg==\r\n', '"a" "b"\r\n', '*\r\n', '"a"x\r\n']) {
      expect(one('sieve', line, { mode: sasl }), JSON.stringify(line)).toEqual(cmd({ kind: 'invalid' }));
    }
  });
});

describe('the client buffer (postern_sieve_client_buffer)', () => {
  it('a line of exactly the buffer size fits; one byte more is tooLong', () => {
    const line = `NOOP "${'x'.repeat(20 - 9)}"\r\n`;
    expect(line.length).toBe(20);
    expect(s(line, 20)).toEqual(cmd({ kind: 'noop', tag: 'x'.repeat(11) }));
    expect(frame('sieve', `NOOP "${'x'.repeat(12)}"\r\n`, { bufferSize: 20 })).toEqual([{ type: 'tooLong' }]);
  });

  it('a literal announcing more than the buffer holds is tooLong at its header, before its bytes arrive', () => {
    expect(frame('sieve', 'AUTHENTICATE "PLAIN" {100000+}\r\n', { bufferSize: 4096 })).toEqual([{ type: 'tooLong' }]);
    expect(frame('sieve', 'NOOP {99999999999999999999999999+}\r\n', { bufferSize: 4096 })).toEqual([{ type: 'tooLong' }]);
    // Header (11 bytes) + 8 literal bytes + CRLF = 21: fits exactly.
    expect(s('NOOP {8+}\r\n12345678\r\n', 21)).toEqual(cmd({ kind: 'noop', tag: '12345678' }));
    // Header (12 bytes) + 10 literal bytes = 22 > 21: refused before the literal is sent.
    expect(frame('sieve', 'NOOP {10+}\r\n', { bufferSize: 21 })).toEqual([{ type: 'tooLong' }]);
  });

  it('pipelined commands are framed one by one; their bytes never count against the one before', () => {
    expect(frame('sieve', 'NOOP\r\nCAPABILITY\r\nLOGOUT\r\n', { bufferSize: 12 })).toEqual([
      cmd({ kind: 'noop' }),
      cmd({ kind: 'capability' }),
      cmd({ kind: 'quit' }),
    ]);
  });
});
