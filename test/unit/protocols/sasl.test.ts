import { describe, expect, it } from 'vitest';
import {
  asciiUpper,
  classifyAuthenticate,
  decodeBase64Lenient,
  encodeBase64,
  parseCramMd5,
  parseSaslPlain,
} from '../../../src/protocols/sasl.js';
import { Secret } from '../../../src/secret.js';

const hex = (b: Buffer | null): string | null => (b === null ? null : b.toString('hex'));
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('decodeBase64Lenient (nginx ngx_decode_base64)', () => {
  it('decodes standard base64 with and without padding', () => {
    expect(decodeBase64Lenient('dGVzdA==')?.toString('latin1')).toBe('test');
    expect(decodeBase64Lenient('dGVzdA')?.toString('latin1')).toBe('test');
    expect(decodeBase64Lenient('dGVz')?.toString('latin1')).toBe('tes');
    expect(decodeBase64Lenient('dGU=')?.toString('latin1')).toBe('te');
    expect(decodeBase64Lenient('AHRlc3RAZXhhbXBsZS5jb20Ac2VjcmV0')?.toString('latin1')).toBe(
      '\0test@example.com\0secret',
    );
  });

  it('empty input decodes to an empty buffer', () => {
    expect(hex(decodeBase64Lenient(''))).toBe('');
  });

  it('stops at the first "=" and ignores whatever follows', () => {
    expect(decodeBase64Lenient('dGU=garbage!!*')?.toString('latin1')).toBe('te');
    expect(hex(decodeBase64Lenient('='))).toBe('');
    expect(hex(decodeBase64Lenient('=!!'))).toBe('');
    expect(decodeBase64Lenient('dGVzdA=x=y')?.toString('latin1')).toBe('test');
  });

  it('rejects any other non-alphabet byte before the first "="', () => {
    for (const bad of ['*', '!!', 'dGV zdA', 'dGVz\0', 'dG-z', 'dG_z', 'dGVz\r', 'ÿÿÿÿ', 'dGVz\u0100']) {
      expect(decodeBase64Lenient(bad), JSON.stringify(bad)).toBeNull();
    }
  });

  it('rejects a significant length ≡ 1 (mod 4)', () => {
    expect(decodeBase64Lenient('A')).toBeNull();
    expect(decodeBase64Lenient('dGVzd')).toBeNull();
    expect(decodeBase64Lenient('dGVzd=')).toBeNull();
    expect(decodeBase64Lenient('dGVzd===')).toBeNull();
  });

  it('does not check the unused bits of a final partial group', () => {
    // "dGV" is "te" plus 2 stray bits; "dGF" differs only in the unused bits of the last char
    expect(decodeBase64Lenient('dGV')?.toString('latin1')).toBe('te');
    expect(decodeBase64Lenient('dB')?.toString('hex')).toBe('74');
    expect(decodeBase64Lenient('dP')?.toString('hex')).toBe('74');
  });

  it('round-trips every byte value (binary safe)', () => {
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    for (let n = 0; n <= all.length; n += 17) {
      const slice = all.subarray(0, n);
      expect(hex(decodeBase64Lenient(slice.toString('base64')))).toBe(slice.toString('hex'));
      expect(hex(decodeBase64Lenient(slice.toString('base64').replace(/=+$/, '')))).toBe(slice.toString('hex'));
    }
  });

  it('uses the standard alphabet (+ and /), not the URL-safe one', () => {
    expect(hex(decodeBase64Lenient('+/+/'))).toBe('fbffbf');
  });
});

describe('encodeBase64', () => {
  it('encodes binary (latin1) strings byte for byte', () => {
    expect(encodeBase64('Username:')).toBe('VXNlcm5hbWU6');
    expect(encodeBase64('Password:')).toBe('UGFzc3dvcmQ6');
    expect(encodeBase64('<1636536510.1795908625@mx.test>')).toBe('PDE2MzY1MzY1MTAuMTc5NTkwODYyNUBteC50ZXN0Pg==');
    expect(encodeBase64('\xff\x00')).toBe('/wA=');
    expect(encodeBase64('')).toBe('');
  });
});

describe('parseSaslPlain', () => {
  const parse = (s: string): { user: string; password: string } | null => {
    const r = parseSaslPlain(latin1(s));
    return r === null ? null : { user: r.user, password: r.password.reveal() };
  };

  it('authzid NUL authcid NUL passwd; authzid ignored', () => {
    expect(parse('\0test@example.com\0secret')).toEqual({ user: 'test@example.com', password: 'secret' });
    expect(parse('admin\0test\0secret')).toEqual({ user: 'test', password: 'secret' });
  });

  it('password is every byte after the second NUL, NULs included', () => {
    expect(parse('\0u\0p\0q\0')).toEqual({ user: 'u', password: 'p\0q\0' });
  });

  it('empty user and empty password are accepted', () => {
    expect(parse('\0\0')).toEqual({ user: '', password: '' });
    expect(parse('\0u\0')).toEqual({ user: 'u', password: '' });
  });

  it('missing first NUL, or nothing after it, is invalid (login)', () => {
    expect(parse('')).toBeNull();
    expect(parse('user')).toBeNull();
    expect(parse('authz\0')).toBeNull();
  });

  it('missing second NUL is invalid (password)', () => {
    expect(parse('\0user')).toBeNull();
    expect(parse('a\0userpass')).toBeNull();
  });

  it('keeps high bytes as latin1 chars', () => {
    expect(parse('\0\xe9\xff\0\x80 \r\n')).toEqual({ user: '\xe9\xff', password: '\x80 \r\n' });
  });

  it('returns the password as a Secret', () => {
    const r = parseSaslPlain(latin1('\0u\0p'));
    expect(r?.password).toBeInstanceOf(Secret);
    expect(JSON.stringify(r)).not.toContain('"p"');
  });
});

describe('parseCramMd5', () => {
  const digest = '0'.repeat(32);
  const parse = (s: string): { user: string; digest: string } | null => {
    const r = parseCramMd5(latin1(s));
    return r === null ? null : { user: r.user, digest: r.digest.reveal() };
  };

  it('splits at the first space; digest exactly 32 bytes', () => {
    expect(parse(`test@example.com ${digest}`)).toEqual({ user: 'test@example.com', digest });
  });

  it('the digest is not checked for hex and may contain spaces', () => {
    expect(parse(`u ${'z'.repeat(31)} `)).toEqual({ user: 'u', digest: `${'z'.repeat(31)} ` });
    expect(parse(`a b ${'x'.repeat(30)}`)).toEqual({ user: 'a', digest: `b ${'x'.repeat(30)}` });
  });

  it('empty user accepted (nginx does)', () => {
    expect(parse(` ${digest}`)).toEqual({ user: '', digest });
  });

  it('wrong digest length or no space → null', () => {
    expect(parse(`u ${'0'.repeat(31)}`)).toBeNull();
    expect(parse(`u ${'0'.repeat(33)}`)).toBeNull();
    expect(parse(`u${digest}`)).toBeNull();
    expect(parse('')).toBeNull();
    expect(parse('u ')).toBeNull();
  });
});

describe('asciiUpper / classifyAuthenticate', () => {
  it('upper-cases ASCII letters only', () => {
    expect(asciiUpper('cram-md5')).toBe('CRAM-MD5');
    expect(asciiUpper('pl\xe9in')).toBe('PL\xe9IN');
  });

  const plainCmd = (c: ReturnType<typeof classifyAuthenticate>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v instanceof Secret ? `secret:${v.reveal()}` : v]));

  it('mechanism upper-cased, optional initial response as Secret', () => {
    expect(plainCmd(classifyAuthenticate(['plain'], 't'))).toEqual({ kind: 'authenticate', tag: 't', mechanism: 'PLAIN' });
    expect(plainCmd(classifyAuthenticate(['Login', 'dXNlcg=='], undefined))).toEqual({
      kind: 'authenticate',
      mechanism: 'LOGIN',
      initialResponse: 'secret:dXNlcg==',
    });
  });

  it('refuses no mechanism, three arguments, CRAM-MD5 with an initial response', () => {
    expect(plainCmd(classifyAuthenticate([], 't'))).toEqual({ kind: 'refused', tag: 't' });
    expect(plainCmd(classifyAuthenticate(['LOGIN', 'a', 'b'], undefined))).toEqual({ kind: 'refused' });
    expect(plainCmd(classifyAuthenticate(['cram-md5', 'x'], undefined, 'invalidCommand'))).toEqual({
      kind: 'refused',
      reply: 'invalidCommand',
    });
    expect(plainCmd(classifyAuthenticate(['CRAM-MD5'], undefined))).toEqual({ kind: 'authenticate', mechanism: 'CRAM-MD5' });
  });
});
