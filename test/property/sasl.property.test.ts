import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { decodeBase64Lenient, encodeBase64, parseCramMd5, parseSaslPlain } from '../../src/protocols/sasl.js';

const bytes = fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u));
const noNul = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u.map((b) => (b === 0 ? 1 : b))));

describe('base64', () => {
  test.prop([bytes], { numRuns: 200 })('decode(encode(x)) = x, padded or not, with junk after "="', (b) => {
    const text = b.toString('latin1');
    const encoded = encodeBase64(text);
    expect(decodeBase64Lenient(encoded)?.equals(b)).toBe(true);
    expect(decodeBase64Lenient(encoded.replace(/=+$/, ''))?.equals(b)).toBe(true);
    expect(decodeBase64Lenient(`${encoded.replace(/=+$/, '')}=*junk\0`)?.equals(b)).toBe(true);
  });

  test.prop([fc.string({ maxLength: 80 })], { numRuns: 200 })('never throws; null or agrees with Node on clean input', (s) => {
    const out = decodeBase64Lenient(s);
    const head = s.split('=')[0]!;
    if (/^[A-Za-z0-9+/]*$/.test(head) && head.length % 4 !== 1) {
      expect(out?.equals(Buffer.from(head, 'base64'))).toBe(true);
    } else {
      expect(out).toBeNull();
    }
  });
});

describe('SASL messages', () => {
  test.prop([noNul, noNul, bytes], { numRuns: 200 })('PLAIN round trip', (authz, authc, passwd) => {
    const msg = Buffer.concat([authz, Buffer.of(0), authc, Buffer.of(0), passwd]);
    const r = parseSaslPlain(msg);
    expect(r?.user).toBe(authc.toString('latin1'));
    expect(r?.password.reveal()).toBe(passwd.toString('latin1'));
  });

  test.prop([noNul.map((b) => Buffer.from(b.map((x) => (x === 0x20 ? 0x21 : x)))), fc.uint8Array({ minLength: 32, maxLength: 32 })], {
    numRuns: 200,
  })('CRAM-MD5 round trip', (user, digest) => {
    const r = parseCramMd5(Buffer.concat([user, Buffer.of(0x20), Buffer.from(digest)]));
    expect(r?.user).toBe(user.toString('latin1'));
    expect(r?.digest.reveal()).toBe(Buffer.from(digest).toString('latin1'));
  });
});
