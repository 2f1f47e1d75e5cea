import { describe, expect, it } from 'vitest';
import { parseClientHello } from '../../../src/net/client-hello.js';

const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);

/** A ClientHello body: legacy session id, one suite, no compression, and a pre_shared_key extension. */
function helloBody(sessionId: Buffer, identities: Buffer[]): Buffer {
  const ids = Buffer.concat(identities.map((id) => Buffer.concat([vec16(id), Buffer.alloc(4)])));
  const psk = Buffer.concat([vec16(ids), vec16(Buffer.concat([Buffer.from([32]), Buffer.alloc(32)]))]);
  const other = Buffer.concat([u16(10), vec16(Buffer.from([0, 2, 0, 29]))]);
  const extensions = Buffer.concat([other, u16(41), vec16(psk)]);
  return Buffer.concat([u16(0x0303), Buffer.alloc(32, 7), Buffer.from([sessionId.length]), sessionId, vec16(u16(0x1301)), Buffer.from([1, 0]), vec16(extensions)]);
}

function handshake(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 0xff]), body]);
}

const record = (fragment: Buffer) => Buffer.concat([Buffer.from([0x16, 3, 1]), u16(fragment.length), fragment]);

describe('parseClientHello', () => {
  const sessionId = Buffer.alloc(32, 0xaa);
  const identity = Buffer.alloc(32, 0xbb);
  const message = handshake(helloBody(sessionId, [identity, Buffer.alloc(180, 1)]));

  it('reads the legacy session id and the PSK identities', () => {
    const info = parseClientHello(record(message));
    expect(info).not.toBe('more');
    expect(info && info !== 'more' && info.sessionId.equals(sessionId)).toBe(true);
    expect(info && info !== 'more' && info.pskIdentities.map((id) => id.length)).toEqual([32, 180]);
  });

  it('joins a ClientHello split over two records; asks for more until it is whole', () => {
    const split = Buffer.concat([record(message.subarray(0, 3)), record(message.subarray(3))]);
    for (let cut = 0; cut < split.length; cut += 17) expect(parseClientHello(split.subarray(0, cut))).toBe('more');
    const info = parseClientHello(split);
    expect(info && info !== 'more' && info.pskIdentities[0]!.equals(identity)).toBe(true);
  });

  it('anything else is left to the TLS stack', () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.0\r\n\r\n'))).toBeNull();
    expect(parseClientHello(record(Buffer.concat([Buffer.from([2, 0, 0, 4]), Buffer.alloc(4)])))).toBeNull();
  });
});
