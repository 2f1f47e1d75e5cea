import { describe, expect, it } from 'vitest';
import { PROXY_MAX_HEADER, ProxyHeaderReader, readProxyHeader } from '../../../src/net/proxy-protocol.js';
import { crc32c, proxyV1, proxyV2 } from '../../../src/proxy/backend-proxy-header.js';
import { formatIp, ipBytes } from '../../../src/net/ip-text.js';

const bytes = (text: string) => Buffer.from(text, 'latin1');
const SIGNATURE = bytes('\r\n\r\n\0\r\nQUIT\n');

function v2(versionCommand: number, familyTransport: number, body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header[0] = versionCommand;
  header[1] = familyTransport;
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIGNATURE, header, body]);
}

const inet = (src: number[], dst: number[], sport: number, dport: number, extra = Buffer.alloc(0)) => {
  const body = Buffer.alloc(12);
  body.set(src, 0);
  body.set(dst, 4);
  body.writeUInt16BE(sport, 8);
  body.writeUInt16BE(dport, 10);
  return Buffer.concat([body, extra]);
};

describe('PROXY v1', () => {
  it('reads TCP4 and keeps the text as sent', () => {
    const header = 'PROXY TCP4 203.0.113.7 198.51.100.9 51000 143\r\n';
    expect(readProxyHeader(bytes(`${header}a1 LOGIN`))).toEqual({
      status: 'header',
      length: header.length,
      addresses: { sourceAddress: '203.0.113.7', sourcePort: 51000, destinationAddress: '198.51.100.9', destinationPort: 143 },
    });
  });

  it('reads TCP6 and leading-zero ports as nginx (ngx_atoi)', () => {
    expect(readProxyHeader(bytes('PROXY TCP6 2001:DB8::1 ::1 0080 00143\r\n'))).toMatchObject({
      status: 'header',
      addresses: { sourceAddress: '2001:DB8::1', sourcePort: 80, destinationAddress: '::1', destinationPort: 143 },
    });
  });

  it('skips UNKNOWN with whatever follows up to CRLF', () => {
    expect(readProxyHeader(bytes('PROXY UNKNOWN\r\n'))).toEqual({ status: 'header', length: 15, addresses: null });
    expect(readProxyHeader(bytes('PROXY UNKNOWN ffff::1 ::1 1 2\r\nX'))).toEqual({ status: 'header', length: 31, addresses: null });
  });

  it('waits for more while what came so far can still be a header', () => {
    for (const prefix of ['', 'P', 'PROXY', 'PROXY U', 'PROXY UNKNOWN', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r']) {
      expect(readProxyHeader(bytes(prefix))).toEqual({ status: 'incomplete' });
    }
  });

  it.each([
    // No PROXY header at all: a client talking first; its password stays out of the log.
    ['a1 LOGIN alice secret\r\n', 'broken header: "a1 ..."'],
    ['PROXY TCP4 999.1.1.1 nonsense\r\n', 'broken header: "PROXY TCP4 999.1.1.1 nonsense"'],
    ['PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n', 'broken header: "PROXY TCP5 1.2.3.4 1.2.3.4 1 2"'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n', 'broken header: "PROXY TCP4 1.2.3.4 1.2.3.4 65536 2"'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4  2\r\n', 'broken header: "PROXY TCP4 1.2.3.4 1.2.3.4  2"'],
    ['PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX', 'broken header: "PROXY TCP4 1.2.3.4 1.2.3.4 1 2"'],
    ['PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n', 'broken header: "PROXY tcp4 1.2.3.4 1.2.3.4 1 2"'],
    ['\x16\x03\x01\x02\x00\x01', 'broken header: "\x16\x03\x01\x02\x00\x01"'],
  ])('refuses %j with nginx\'s log line', (input, log) => {
    expect(readProxyHeader(bytes(input))).toEqual({ status: 'broken', log });
  });

  it('gives up on a line that does not end within 107 bytes (nginx 1.22.1 read no more)', () => {
    const long = `PROXY TCP4 ${'1'.repeat(200)} 1.2.3.4 1 2\r\n`;
    const verdict = readProxyHeader(bytes(long));
    expect(verdict).toEqual({ status: 'broken', log: `broken header: "${long.slice(0, 107)}"` });
  });

  it('a client that closes mid-header, or at once, is a broken header', () => {
    expect(readProxyHeader(bytes('PROXY TCP4 1.2.3.4'), true)).toEqual({ status: 'broken', log: 'broken header: "PROXY TCP4 1.2.3.4"' });
    expect(readProxyHeader(Buffer.alloc(0), true)).toEqual({ status: 'broken', log: 'broken header: ""' });
  });
});

describe('PROXY v2', () => {
  it('reads INET over STREAM, skipping TLVs', () => {
    const tlvs = Buffer.from([0x01, 0x00, 0x02, 0x68, 0x32]);
    const header = v2(0x21, 0x11, inet([192, 0, 2, 1], [192, 0, 2, 2], 123, 5678, tlvs));
    expect(readProxyHeader(Buffer.concat([header, bytes('EHLO')]))).toEqual({
      status: 'header',
      length: header.length,
      addresses: { sourceAddress: '192.0.2.1', sourcePort: 123, destinationAddress: '192.0.2.2', destinationPort: 5678 },
    });
  });

  it('reads INET6 and writes the addresses as nginx does', () => {
    const body = Buffer.alloc(36);
    body.set(ipBytes('2001:db8::7')!, 0);
    body.set(ipBytes('::ffff:10.0.0.1')!, 16);
    body.writeUInt16BE(1, 32);
    body.writeUInt16BE(2, 34);
    expect(readProxyHeader(v2(0x21, 0x21, body))).toMatchObject({
      status: 'header',
      addresses: { sourceAddress: '2001:db8::7', destinationAddress: '::ffff:10.0.0.1', sourcePort: 1, destinationPort: 2 },
    });
  });

  it.each([
    ['LOCAL (a health check)', 0x20, 0x11],
    ['UNSPEC family', 0x21, 0x01],
    ['UNIX family', 0x21, 0x31],
    ['an unknown family', 0x21, 0x71],
    ['DGRAM transport', 0x21, 0x12],
  ])('skips %s: a header without addresses', (_name, versionCommand, familyTransport) => {
    const header = v2(versionCommand, familyTransport, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
    expect(readProxyHeader(header)).toEqual({ status: 'header', length: header.length, addresses: null });
  });

  it('refuses another version, a length beyond 4,096 bytes, a short address block', () => {
    expect(readProxyHeader(v2(0x11, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2)))).toEqual({ status: 'broken', log: 'unknown PROXY protocol version: 1' });
    const tooLarge = v2(0x21, 0x11, Buffer.alloc(PROXY_MAX_HEADER - 15));
    expect(readProxyHeader(tooLarge.subarray(0, 16))).toEqual({ status: 'broken', log: 'header is too large' });
    expect(readProxyHeader(v2(0x21, 0x11, Buffer.alloc(8)))).toMatchObject({ status: 'broken' });
  });

  it('accepts a header of exactly 4,096 bytes (HAProxy TLVs)', () => {
    const header = v2(0x21, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, Buffer.alloc(PROXY_MAX_HEADER - 16 - 12)));
    expect(header.length).toBe(PROXY_MAX_HEADER);
    expect(readProxyHeader(header)).toMatchObject({ status: 'header', length: PROXY_MAX_HEADER });
  });

  it('a truncated v2 header is incomplete, then "header is too large" at the close (as nginx)', () => {
    const header = v2(0x21, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
    expect(readProxyHeader(header.subarray(0, 20))).toEqual({ status: 'incomplete' });
    expect(readProxyHeader(header.subarray(0, 20), true)).toEqual({ status: 'broken', log: 'header is too large' });
    expect(readProxyHeader(header.subarray(0, 10), true)).toEqual({ status: 'broken', log: 'broken header: ""' });
  });
});

describe('ProxyHeaderReader', () => {
  it('hands back what followed the header', () => {
    const reader = new ProxyHeaderReader();
    expect(reader.push(bytes('PROXY TCP4 1.2.3.4 5.6'))).toEqual({ status: 'incomplete' });
    expect(reader.push(bytes('.7.8 1 2\r\n\x16\x03\x01'))).toMatchObject({ status: 'header', rest: bytes('\x16\x03\x01') });
  });

  it('never holds more than the largest header', () => {
    const reader = new ProxyHeaderReader();
    const header = v2(0x21, 0x11, inet([1, 2, 3, 4], [5, 6, 7, 8], 1, 2, Buffer.alloc(PROXY_MAX_HEADER - 28)));
    expect(reader.push(header.subarray(0, 100))).toEqual({ status: 'incomplete' });
    const verdict = reader.push(Buffer.concat([header.subarray(100), Buffer.alloc(10_000, 0x41)]));
    expect(verdict).toMatchObject({ status: 'header' });
    expect(verdict.rest?.length).toBe(10_000);
    expect(reader.held).toBe(0);
  });
});

describe('the header written to the backend', () => {
  it('v1 as nginx writes it, and a mixed-family pair as TCP6 (nginx issue #1609)', () => {
    expect(proxyV1({ ip: '203.0.113.7', port: 51000 }, { ip: '127.0.0.1', port: 8143 })).toBe('PROXY TCP4 203.0.113.7 127.0.0.1 51000 8143\r\n');
    expect(proxyV1({ ip: '2001:db8::1', port: 1 }, { ip: '127.0.0.1', port: 2 })).toBe('PROXY TCP6 2001:db8::1 ::ffff:127.0.0.1 1 2\r\n');
  });

  it('v2 reads back to the same addresses, with a valid CRC32C TLV', () => {
    const header = proxyV2({ ip: '192.0.2.1', port: 123 }, { ip: '127.0.0.1', port: 8025 });
    expect(readProxyHeader(header)).toEqual({
      status: 'header',
      length: header.length,
      addresses: { sourceAddress: '192.0.2.1', sourcePort: 123, destinationAddress: '127.0.0.1', destinationPort: 8025 },
    });
    const zeroed = Buffer.from(header);
    zeroed.writeUInt32BE(0, zeroed.length - 4);
    expect(header.readUInt32BE(header.length - 4)).toBe(crc32c(zeroed));
    expect(header[header.length - 7]).toBe(0x03);
  });

  it('CRC-32C check value', () => {
    expect(crc32c(bytes('123456789'))).toBe(0xe3069283);
  });
});

describe('IP text as nginx writes it', () => {
  it.each([
    ['::1', '::1'],
    ['::', '::'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::1.2.3.4', '::1.2.3.4'],
    ['fe80::1:2', 'fe80::1:2'],
  ])('%s -> %s', (input, output) => {
    expect(formatIp(ipBytes(input)!)).toBe(output);
  });
});
