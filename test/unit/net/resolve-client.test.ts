import { describe, expect, it } from 'vitest';
import { arpaName, resolveClientHost, TEMPUNAVAIL, UNAVAILABLE, type ClientLookup } from '../../../src/net/resolve-client.js';

const fail = (code: string) => Promise.reject(Object.assign(new Error(code), { code }));

/** A scripted lookup: `ptr`/`a`/`aaaa` are answers or error codes; records what was asked. */
function fake(script: { ptr: string[] | string; a?: string[] | string; aaaa?: string[] | string }) {
  const asked: string[] = [];
  const answer = (x: string[] | string | undefined) => (x === undefined ? fail('ENOTFOUND') : typeof x === 'string' ? fail(x) : Promise.resolve(x));
  const lookup: ClientLookup = {
    reverse: (ip) => {
      asked.push(`PTR ${ip}`);
      return answer(script.ptr);
    },
    forward: (name, family) => {
      asked.push(`${family === 4 ? 'A' : 'AAAA'} ${name}`);
      return answer(family === 4 ? script.a : script.aaaa);
    },
  };
  return { lookup, asked };
}

describe('resolveClientHost (nginx 1.22.1, src/mail/)', () => {
  it('PTR then forward lookup giving the client address back: the name', async () => {
    const { lookup, asked } = fake({ ptr: ['a.example.net'], a: ['10.0.0.1', '127.0.0.1'] });
    expect(await resolveClientHost('127.0.0.1', lookup)).toBe('a.example.net');
    expect(asked).toEqual(['PTR 127.0.0.1', 'A a.example.net']);
  });

  it('IPv4-mapped client addresses are looked up as IPv4', async () => {
    const { lookup, asked } = fake({ ptr: ['a.example.net'], a: ['127.0.0.1'] });
    expect(await resolveClientHost('::ffff:127.0.0.1', lookup)).toBe('a.example.net');
    expect(asked).toEqual(['PTR 127.0.0.1', 'A a.example.net']);
  });

  it('IPv6 clients: AAAA, compared in canonical form', async () => {
    const { lookup, asked } = fake({ ptr: ['six.example.net'], aaaa: ['2001:DB8:0:0::1'] });
    expect(await resolveClientHost('2001:db8::1', lookup)).toBe('six.example.net');
    expect(asked).toEqual(['PTR 2001:db8::1', 'AAAA six.example.net']);
  });

  it('PTR NXDOMAIN: [UNAVAILABLE]', async () => {
    expect(await resolveClientHost('127.0.0.1', fake({ ptr: 'ENOTFOUND' }).lookup)).toBe(UNAVAILABLE);
  });

  it.each(['ESERVFAIL', 'ETIMEOUT', 'EREFUSED', 'EBADRESP', 'ENODATA', 'ECONNREFUSED', 'ECANCELLED'])(
    'PTR failure %s: [TEMPUNAVAIL]',
    async (code) => {
      expect(await resolveClientHost('127.0.0.1', fake({ ptr: code }).lookup)).toBe(TEMPUNAVAIL);
    },
  );

  it('a lookup rejecting without a code: [TEMPUNAVAIL]', async () => {
    const lookup: ClientLookup = { reverse: () => Promise.reject(new Error('boom')), forward: () => Promise.resolve([]) };
    expect(await resolveClientHost('127.0.0.1', lookup)).toBe(TEMPUNAVAIL);
  });

  it('empty PTR answer or empty name: [TEMPUNAVAIL]', async () => {
    expect(await resolveClientHost('127.0.0.1', fake({ ptr: [] }).lookup)).toBe(TEMPUNAVAIL);
    expect(await resolveClientHost('127.0.0.1', fake({ ptr: [''], a: ['127.0.0.1'] }).lookup)).toBe(TEMPUNAVAIL);
  });

  it.each([
    'evil.example.net\r\nAuth-Status: OK',
    'evil.example.net\nX: y',
    'evil.example.net\rX',
    'evil.example.net LOGIN=root',
    'evil.example.net\tx',
    'evil_host.example.net',
    'evil.example.net\\013',
    'ev\u0000il.example.net',
    'évil.example.net',
    'evil.example.net;',
    'a=b.example.net',
  ])('PTR name with bytes outside A-Za-z0-9-. (CVE-2026-28753) %j: [TEMPUNAVAIL], no forward lookup', async (name) => {
    const { lookup, asked } = fake({ ptr: [name], a: ['127.0.0.1'] });
    expect(await resolveClientHost('127.0.0.1', lookup)).toBe(TEMPUNAVAIL);
    expect(asked).toEqual(['PTR 127.0.0.1']);
  });

  it('only the first PTR name is used', async () => {
    const { lookup, asked } = fake({ ptr: ['first.example.net', 'second.example.net'], a: ['127.0.0.1'] });
    expect(await resolveClientHost('127.0.0.1', lookup)).toBe('first.example.net');
    expect(asked).toEqual(['PTR 127.0.0.1', 'A first.example.net']);
  });

  it('names with hyphens, digits, upper case and a trailing dot are accepted', async () => {
    const name = 'Mail-01.Example.NET.';
    expect(await resolveClientHost('127.0.0.1', fake({ ptr: [name], a: ['127.0.0.1'] }).lookup)).toBe(name);
  });

  it('forward lookup NXDOMAIN (or no address of the family): [UNAVAILABLE]', async () => {
    expect(await resolveClientHost('127.0.0.1', fake({ ptr: ['a.example.net'], a: 'ENOTFOUND' }).lookup)).toBe(UNAVAILABLE);
    expect(await resolveClientHost('127.0.0.1', fake({ ptr: ['a.example.net'], a: 'ENODATA' }).lookup)).toBe(UNAVAILABLE);
  });

  it.each(['ESERVFAIL', 'ETIMEOUT', 'EREFUSED', 'EBADRESP'])('forward lookup failure %s: [TEMPUNAVAIL]', async (code) => {
    expect(await resolveClientHost('127.0.0.1', fake({ ptr: ['a.example.net'], a: code }).lookup)).toBe(TEMPUNAVAIL);
  });

  it('forward lookup without the client address: [UNAVAILABLE]', async () => {
    expect(await resolveClientHost('127.0.0.1', fake({ ptr: ['a.example.net'], a: ['127.0.0.2'] }).lookup)).toBe(UNAVAILABLE);
    expect(await resolveClientHost('127.0.0.1', fake({ ptr: ['a.example.net'], a: [] }).lookup)).toBe(UNAVAILABLE);
  });

  it('ipv4=off / ipv6=off: no forward lookup of that family, so no match', async () => {
    const v4 = fake({ ptr: ['a.example.net'], a: ['127.0.0.1'] });
    expect(await resolveClientHost('127.0.0.1', v4.lookup, { ipv4: false, ipv6: true })).toBe(UNAVAILABLE);
    expect(v4.asked).toEqual(['PTR 127.0.0.1']);
    const v6 = fake({ ptr: ['a.example.net'], aaaa: ['::1'] });
    expect(await resolveClientHost('::1', v6.lookup, { ipv4: true, ipv6: false })).toBe(UNAVAILABLE);
  });

  it('a client without an IP address (UNIX socket, already gone): [TEMPUNAVAIL], nothing asked', async () => {
    const { lookup, asked } = fake({ ptr: ['a.example.net'], a: ['127.0.0.1'] });
    expect(await resolveClientHost('', lookup)).toBe(TEMPUNAVAIL);
    expect(asked).toEqual([]);
  });
});

describe('arpaName', () => {
  it('IPv4 and IPv6 reverse names', () => {
    expect(arpaName('127.0.0.1')).toBe('1.0.0.127.in-addr.arpa');
    expect(arpaName('2001:db8::1')).toBe(`1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
    expect(arpaName('64:ff9b::1.2.3.4')).toBe(arpaName('64:ff9b::102:304'));
    expect(arpaName('::1')).toBe(`1.${'0.'.repeat(31)}ip6.arpa`);
  });
});
