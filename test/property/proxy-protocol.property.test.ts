/**
 * Property tests for the PROXY header reader: the verdict does not depend on how the bytes are
 * split into TCP segments, arbitrary bytes never throw nor make it hold more than the largest
 * header, and every header Postern writes to a backend reads back to its addresses.
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { PROXY_MAX_HEADER, ProxyHeaderReader, readProxyHeader, type ProxyHeaderVerdict } from '../../src/net/proxy-protocol.js';
import { proxyV1, proxyV2 } from '../../src/proxy/backend-proxy-header.js';
import { formatIp, ipBytes } from '../../src/net/ip-text.js';

const NUM_RUNS = 200;

/** Feeds `bytes` cut at `cuts`; the first verdict other than incomplete, or the verdict at the close. */
function feed(bytes: Buffer, cuts: number[]): { verdict: ProxyHeaderVerdict; rest?: Buffer } {
  const reader = new ProxyHeaderReader();
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let at = 0;
  for (const point of [...points, bytes.length]) {
    const verdict = reader.push(bytes.subarray(at, point));
    expect(reader.held).toBeLessThanOrEqual(PROXY_MAX_HEADER);
    at = point;
    // What the header reader did not see yet stays in the socket: it follows the rest.
    if (verdict.status !== 'incomplete') return { verdict, ...(verdict.rest === undefined ? {} : { rest: Buffer.concat([verdict.rest, bytes.subarray(at)]) }) };
  }
  return { verdict: reader.end() };
}

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIp(b));
const ip = fc.oneof(ipv4, ipv6);
const port = fc.nat(65535);
const endpoint = fc.record({ ip, port });

const v1Header = fc.tuple(endpoint, endpoint).map(([client, local]) => Buffer.from(proxyV1(client, local), 'latin1'));
const v2Header = fc.tuple(endpoint, endpoint).map(([client, local]) => proxyV2(client, local));
const unknown = fc.string({ maxLength: 80, unit: fc.constantFrom('a', '1', ' ', ':', '.') }).map((tail) => Buffer.from(`PROXY UNKNOWN${tail}\r\n`, 'latin1'));
const v2Local = fc.uint8Array({ maxLength: 300 }).map((tlv) => {
  const head = Buffer.from('\r\n\r\n\0\r\nQUIT\n\x20\x00\0\0', 'latin1');
  head.writeUInt16BE(tlv.length, 14);
  return Buffer.concat([head, tlv]);
});
const anyHeader = fc.oneof(v1Header, v2Header, unknown, v2Local);
const trailing = fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b));
const cuts = fc.array(fc.nat(5000), { maxLength: 12 });

describe('PROXY header reader', () => {
  test.prop([anyHeader, trailing, cuts], { numRuns: NUM_RUNS })('any split of a header and what follows reads the header and hands back the rest', (header, after, points) => {
    const whole = Buffer.concat([header, after]);
    const { verdict, rest } = feed(whole, points);
    expect(verdict).toMatchObject({ status: 'header', length: header.length });
    expect(rest).toEqual(after);
    expect({ ...verdict, rest: undefined }).toEqual({ ...readProxyHeader(whole), rest: undefined });
  });

  test.prop([fc.uint8Array({ maxLength: 5000 }), cuts], { numRuns: NUM_RUNS })('arbitrary bytes: no throw, bounded, and the split does not change the outcome', (raw, points) => {
    const bytes = Buffer.from(raw);
    const split = feed(bytes, points).verdict;
    const whole = feed(bytes, []).verdict;
    expect(split.status).toBe(whole.status);
    if (whole.status === 'header') expect(split).toEqual(whole);
  });

  test.prop([fc.oneof(v1Header, v2Header), fc.nat(), cuts], { numRuns: NUM_RUNS })('garbage in a header: never a throw, never more than the largest header held', (header, at, points) => {
    const damaged = Buffer.from(header);
    damaged[at % damaged.length] = damaged[at % damaged.length]! ^ 0x5a;
    const { verdict } = feed(damaged, points);
    expect(['header', 'broken']).toContain(verdict.status);
  });

  test.prop([endpoint, endpoint], { numRuns: NUM_RUNS })('the headers Postern writes read back to the addresses it wrote', (client, local) => {
    const v2 = readProxyHeader(proxyV2(client, local));
    expect(v2.status).toBe('header');
    const v1 = readProxyHeader(Buffer.from(proxyV1(client, local), 'latin1'));
    expect(v1.status).toBe('header');
    for (const verdict of [v1, v2]) {
      if (verdict.status !== 'header') continue;
      expect(verdict.addresses?.sourcePort).toBe(client.port);
      expect(verdict.addresses?.destinationPort).toBe(local.port);
      const sameFamily = ipBytes(client.ip)!.length === ipBytes(local.ip)!.length;
      if (sameFamily) {
        expect(ipBytes(verdict.addresses!.sourceAddress)).toEqual(ipBytes(client.ip));
        expect(ipBytes(verdict.addresses!.destinationAddress)).toEqual(ipBytes(local.ip));
      }
    }
  });

  test.prop([fc.uint8Array({ minLength: 16, maxLength: 16 })], { numRuns: NUM_RUNS })('IPv6 text as nginx writes it reads back to the same bytes', (bytes) => {
    expect(ipBytes(formatIp(bytes))).toEqual(bytes);
  });
});
