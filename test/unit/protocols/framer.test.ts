import { describe, expect, it } from 'vitest';
import { createFramer } from '../../../src/protocols/framer.js';
import { framerFor } from '../../../src/protocols/registry.js';
import * as protocols from '../../../src/protocols/index.js';
import type { Framed } from '../../../src/protocols/types.js';
import { cmd, frame, plain } from './helpers.js';

const noop = cmd({ kind: 'noop' });

function drainAll(framer: ReturnType<typeof createFramer>, mode: 'command' | 'sasl' = 'command'): Framed[] {
  const out: Framed[] = [];
  for (let item = framer.next(mode); item !== undefined; item = framer.next(mode)) out.push(item);
  return out;
}

describe('createFramer', () => {
  it('is exported from src/protocols/index.ts', () => {
    expect(protocols.createFramer).toBe(createFramer);
  });

  it('rejects a non-positive or non-integer buffer size', () => {
    expect(() => framerFor('imap', 0)).toThrow(RangeError);
    expect(() => framerFor('imap', -1)).toThrow(RangeError);
    expect(() => framerFor('imap', 1.5)).toThrow(RangeError);
  });

  it('returns undefined with no input, and for an incomplete line', () => {
    const framer = framerFor('pop3', 128);
    expect(framer.next('command')).toBeUndefined();
    framer.push(Buffer.from('NOO'));
    expect(framer.next('command')).toBeUndefined();
    expect(framer.buffered).toBe(3);
    framer.push(Buffer.alloc(0));
    expect(framer.next('command')).toBeUndefined();
    framer.push(Buffer.from('P\r\n'));
    expect(plain(framer.next('command')!)).toEqual(noop);
    expect(framer.buffered).toBe(0);
    expect(framer.next('command')).toBeUndefined();
  });

  it('copies pushed bytes (the caller may reuse its chunk)', () => {
    const framer = framerFor('pop3', 128);
    const chunk = Buffer.from('USER abc');
    framer.push(chunk);
    chunk.fill(0x41);
    framer.push(Buffer.from('\r\n'));
    expect(plain(framer.next('command')!)).toEqual(cmd({ kind: 'user', user: 'abc' }));
  });
});

describe('POP3 128-byte command buffer (§3.1)', () => {
  const userLine = (total: number, eol = '\r\n'): string => `USER ${'x'.repeat(total - 5 - eol.length)}${eol}`;

  it('127 and 128 bytes (CRLF included) fit', () => {
    expect(frame('pop3', userLine(127))).toEqual([cmd({ kind: 'user', user: 'x'.repeat(120) })]);
    expect(frame('pop3', userLine(128))).toEqual([cmd({ kind: 'user', user: 'x'.repeat(121) })]);
    expect(frame('pop3', userLine(128, '\n'))).toEqual([cmd({ kind: 'user', user: 'x'.repeat(122) })]);
  });

  it('129 bytes → tooLong (once 128 bytes arrived without LF)', () => {
    expect(frame('pop3', userLine(129))).toEqual([{ type: 'tooLong' }]);
    // the 128th byte is the CR: still no LF within the buffer
    const line = userLine(129);
    expect(frame('pop3', [line.slice(0, 127)])).toEqual([]);
    expect(frame('pop3', [line.slice(0, 128)])).toEqual([{ type: 'tooLong' }]);
  });

  it('USER + 130 x → tooLong (§3.1 live example)', () => {
    expect(frame('pop3', `USER ${'x'.repeat(130)}\r\n`)).toEqual([{ type: 'tooLong' }]);
  });

  it('an invalid line still counts: a long garbage line is tooLong, not invalid', () => {
    expect(frame('pop3', `${'\xff'.repeat(200)}\r\n`)).toEqual([{ type: 'tooLong' }]);
    expect(frame('pop3', `FOO ${'y'.repeat(122)}\r\n`)).toEqual([cmd({ kind: 'invalid' })]);
  });

  it('pipelined commands beyond one buffer are fine (nginx quirk not reproduced)', () => {
    expect(frame('pop3', 'NOOP\r\n'.repeat(30))).toEqual(Array.from({ length: 30 }, () => noop));
    expect(frame('pop3', `${'NOOP\r\n'.repeat(21)}${userLine(128)}`)).toHaveLength(22);
  });

  it('after tooLong nothing more is framed', () => {
    const framer = framerFor('pop3', 128);
    framer.push(Buffer.from(`${'x'.repeat(200)}\r\nNOOP\r\n`));
    expect(drainAll(framer)).toEqual([{ type: 'tooLong' }]);
    expect(framer.next('command')).toBeUndefined();
  });

  it('SASL lines have the same limit', () => {
    expect(frame('pop3', `${'A'.repeat(126)}\r\n`, { mode: () => 'sasl' })).toEqual([
      cmd({ kind: 'saslResponse', response: `secret:${'A'.repeat(126)}` }),
    ]);
    expect(frame('pop3', `${'A'.repeat(127)}\r\n`, { mode: () => 'sasl' })).toEqual([{ type: 'tooLong' }]);
  });
});

describe('IMAP/SMTP client buffer (§3.1)', () => {
  const B = 1024;
  const noopLine = (total: number): string => `j1 NOOP ${'a'.repeat(total - 10)}\r\n`;

  it('bufferSize-1 and bufferSize fit; bufferSize+1 → tooLong with the tag', () => {
    expect(frame('imap', noopLine(B - 1), { bufferSize: B })).toEqual([cmd({ kind: 'noop', tag: 'j1' })]);
    expect(frame('imap', noopLine(B), { bufferSize: B })).toEqual([cmd({ kind: 'noop', tag: 'j1' })]);
    expect(frame('imap', noopLine(B + 1), { bufferSize: B })).toEqual([{ type: 'tooLong', tag: 'j1' }]);
    // §3.1 live: 1k buffer, 1.1k line
    expect(frame('imap', `j1 NOOP ${'a'.repeat(1100)}\r\n`, { bufferSize: B })).toEqual([{ type: 'tooLong', tag: 'j1' }]);
  });

  it('tooLong carries the tag of an invalid command too, but none when no tag was parsed', () => {
    expect(frame('imap', `a4 SELECT ${'a'.repeat(2000)}\r\n`, { bufferSize: B })).toEqual([{ type: 'tooLong', tag: 'a4' }]);
    expect(frame('imap', `${'a'.repeat(2000)}\r\n`, { bufferSize: B })).toEqual([{ type: 'tooLong' }]);
    expect(frame('imap', `a+b ${'a'.repeat(2000)}\r\n`, { bufferSize: B })).toEqual([{ type: 'tooLong' }]);
  });

  it('default 4096 with the runtime value', () => {
    expect(frame('imap', `t NOOP ${'z'.repeat(4096 - 9)}\r\n`)).toEqual([cmd({ kind: 'noop', tag: 't' })]);
    expect(frame('imap', `t NOOP ${'z'.repeat(4096 - 8)}\r\n`)).toEqual([{ type: 'tooLong', tag: 't' }]);
  });

  it('literal data counts toward the limit (whole command incl. literals)', () => {
    const bufferSize = 64;
    // header + N bytes + "\n" = 64 exactly
    const fit = (n: number): string => `a LOGIN u {${n}+}\r\n`;
    const n = bufferSize - fit(10).length - 1; // header length is the same for 2-digit n
    expect(String(n)).toHaveLength(2);
    expect(frame('imap', `${fit(n)}${'p'.repeat(n)}\n`, { bufferSize })).toEqual([
      cmd({ kind: 'login', tag: 'a', user: 'u', password: `secret:${'p'.repeat(n)}` }),
    ]);
    // one more byte (CRLF instead of LF) → tooLong when the 64th byte is not LF
    expect(frame('imap', `${fit(n)}${'p'.repeat(n)}\r\n`, { bufferSize })).toEqual([{ type: 'tooLong', tag: 'a' }]);
    // a literal one byte longer cannot fit: nothing until its bytes fill the buffer, then tooLong
    expect(frame('imap', fit(n + 1), { bufferSize })).toEqual([]);
    expect(frame('imap', `${fit(n + 1)}${'p'.repeat(n + 1)}\n`, { bufferSize })).toEqual([{ type: 'tooLong', tag: 'a' }]);
    // a synchronising literal that cannot fit is still invited (`+ OK`), as nginx does (live 1.22)
    expect(frame('imap', `a LOGIN u {${n + 2}}\r\n${'p'.repeat(n + 2)}\r\n`, { bufferSize })).toEqual([
      { type: 'literalContinuation' },
      { type: 'tooLong', tag: 'a' },
    ]);
    expect(frame('imap', `a LOGIN u {${n + 1}}\r\n`, { bufferSize })).toEqual([{ type: 'literalContinuation' }]);
  });

  it('several literals add up', () => {
    const bufferSize = 40;
    // "a LOGIN {10+}\r\n" (15) + 10 + " {10+}\r\n" (8) + 10 = 43 > 40
    expect(frame('imap', `a LOGIN {10+}\r\n${'u'.repeat(10)} {10+}\r\n${'p'.repeat(10)}\r\n`, { bufferSize })).toEqual([
      { type: 'tooLong', tag: 'a' },
    ]);
    expect(frame('imap', `a LOGIN {10+}\r\n${'u'.repeat(10)} {5+}\r\nppppp\n`, { bufferSize })).toEqual([
      cmd({ kind: 'login', tag: 'a', user: 'u'.repeat(10), password: 'secret:ppppp' }),
    ]);
  });

  it('SMTP uses bufferSize the same way', () => {
    expect(frame('smtp', `HELO ${'h'.repeat(57)}\r\n`, { bufferSize: 64 })).toEqual([
      cmd({ kind: 'helo', esmtp: false, domain: 'h'.repeat(57) }),
    ]);
    expect(frame('smtp', `HELO ${'h'.repeat(58)}\r\n`, { bufferSize: 64 })).toEqual([{ type: 'tooLong' }]);
  });

  it('a tiny buffer still frames what fits', () => {
    expect(frame('pop3', 'NOOP\n', { bufferSize: 5 })).toEqual([noop]);
    expect(frame('pop3', 'NOOP\r\n', { bufferSize: 5 })).toEqual([{ type: 'tooLong' }]);
    expect(frame('pop3', '\n\n', { bufferSize: 1 })).toEqual([cmd({ kind: 'invalid' }), cmd({ kind: 'invalid' })]);
  });
});

describe('takeRemainder / buffered', () => {
  it('STARTTLS discard: bytes after the STARTTLS line are handed back (§3.5)', () => {
    const framer = framerFor('imap', 4096);
    framer.push(Buffer.from('h2 STARTTLS\r\nh3 CAPABILITY\r\n'));
    expect(plain(framer.next('command')!)).toEqual(cmd({ kind: 'starttls', tag: 'h2' }));
    expect(framer.buffered).toBe('h3 CAPABILITY\r\n'.length);
    expect(framer.takeRemainder().toString('latin1')).toBe('h3 CAPABILITY\r\n');
    expect(framer.buffered).toBe(0);
    expect(framer.next('command')).toBeUndefined();
    framer.push(Buffer.from('h4 NOOP\r\n'));
    expect(plain(framer.next('command')!)).toEqual(cmd({ kind: 'noop', tag: 'h4' }));
  });

  it('SMTP STARTTLS with pipelined MAIL', () => {
    const framer = framerFor('smtp', 4096);
    framer.push(Buffer.from('STARTTLS\r\nMAIL FROM:<x@y>\r\n'));
    expect(plain(framer.next('command')!)).toEqual(cmd({ kind: 'starttls' }));
    expect(framer.takeRemainder().toString()).toBe('MAIL FROM:<x@y>\r\n');
  });

  it('relay start: pipelined data after the authenticating command is kept verbatim (§3.4)', () => {
    const framer = framerFor('pop3', 128);
    const tail = Buffer.from('STAT\r\nRETR 1\r\n\xff\0partial', 'latin1');
    framer.push(Buffer.concat([Buffer.from('USER test@example.com\r\nPASS secret\r\n'), tail]));
    expect(plain(framer.next('command')!)).toEqual(cmd({ kind: 'user', user: 'test@example.com' }));
    expect(plain(framer.next('command')!)).toEqual(cmd({ kind: 'pass', password: 'secret:secret' }));
    expect(framer.buffered).toBe(tail.length);
    expect(framer.takeRemainder().equals(tail)).toBe(true);
  });

  it('the remainder includes a partially scanned command, literal header included', () => {
    const framer = framerFor('imap', 4096);
    framer.push(Buffer.from('a NOOP\r\nb LOGIN {5}\r\nab'));
    expect(plain(framer.next('command')!)).toEqual(cmd({ kind: 'noop', tag: 'a' }));
    expect(framer.next('command')).toEqual({ type: 'literalContinuation' });
    expect(framer.next('command')).toBeUndefined();
    expect(framer.buffered).toBe('b LOGIN {5}\r\nab'.length);
    expect(framer.takeRemainder().toString()).toBe('b LOGIN {5}\r\nab');
    framer.push(Buffer.from('c NOOP\r\n'));
    expect(plain(framer.next('command')!)).toEqual(cmd({ kind: 'noop', tag: 'c' }));
  });

  it('buffered tracks unframed bytes across many pushes and growth', () => {
    const framer = framerFor('smtp', 4096);
    let expected = 0;
    for (let n = 0; n < 500; n++) {
      framer.push(Buffer.from('NOOP\r\n'));
      expected += 6;
      expect(framer.buffered).toBe(expected);
    }
    const items = drainAll(framer);
    expect(items).toHaveLength(500);
    expect(framer.buffered).toBe(0);
  });
});

describe('modes', () => {
  it('the mode is chosen per command: AUTH then a SASL line then a command', () => {
    const framer = framerFor('pop3', 128);
    framer.push(Buffer.from('AUTH PLAIN\r\nAHUAcA==\r\nNOOP\r\n'));
    expect(plain(framer.next('command')!)).toEqual(cmd({ kind: 'authenticate', mechanism: 'PLAIN' }));
    expect(plain(framer.next('sasl')!)).toEqual(cmd({ kind: 'saslResponse', response: 'secret:AHUAcA==' }));
    expect(plain(framer.next('command')!)).toEqual(noop);
  });

  it('changing the mode while a line is incomplete rescans it in the new mode', () => {
    const framer = framerFor('pop3', 128);
    framer.push(Buffer.from('NOOP x'));
    expect(framer.next('command')).toBeUndefined();
    framer.push(Buffer.from('\r\n'));
    expect(plain(framer.next('sasl')!)).toEqual(cmd({ kind: 'saslResponse', response: 'secret:NOOP' }));
  });
});

describe('binary input', () => {
  it('NUL bytes and high bytes never break framing', () => {
    expect(frame('pop3', '\0\0\0\r\nNOOP\r\n')).toEqual([cmd({ kind: 'invalid' }), noop]);
    expect(frame('imap', '\0 NOOP\r\na NOOP\r\n')).toEqual([cmd({ kind: 'invalid' }), cmd({ kind: 'noop', tag: 'a' })]);
    expect(frame('smtp', '\x80\x81\xfe\xff\nNOOP\n')).toEqual([cmd({ kind: 'invalid' }), noop]);
    expect(frame('imap', 'a LOGIN \xc3\xa9 \xff\r\n')).toEqual([cmd({ kind: 'login', tag: 'a', user: '\xc3\xa9', password: 'secret:\xff' })]);
  });

  it('a TLS ClientHello sent in plaintext is garbage, not a crash', () => {
    const hello = Buffer.from('16030100a5010000a103030000000000000000000000000000000000000000000000000000000000000000000a', 'hex');
    for (const protocol of ['pop3', 'imap', 'smtp'] as const) {
      const framer = framerFor(protocol, protocol === 'pop3' ? 128 : 4096);
      framer.push(hello);
      expect(() => drainAll(framer)).not.toThrow();
    }
  });

  it('an HTTP request (ALPACA-style) is a series of invalid commands', () => {
    const http = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    expect(frame('pop3', http)).toEqual([cmd({ kind: 'invalid' }), cmd({ kind: 'invalid' }), cmd({ kind: 'invalid' })]);
    expect(frame('smtp', http)).toEqual([cmd({ kind: 'invalid' }), cmd({ kind: 'invalid' }), cmd({ kind: 'invalid' })]);
    expect(frame('imap', http)).toEqual([cmd({ kind: 'invalid', tag: 'GET' }), cmd({ kind: 'invalid' }), cmd({ kind: 'invalid' })]);
  });
});
