import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseClientHello, peekClientHello, type PeekResult } from '../../../src/net/client-hello.js';

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

/** A loopback connection: the server's accepted socket (paused, as the endpoint gets it) and the client. */
async function accepted(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const listener = createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;
  const server = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect(port, '127.0.0.1');
  const socket = await server;
  return { server: socket, client, close: () => (client.destroy(), socket.destroy(), listener.close()) };
}

const peek = (socket: Socket, timeoutMs = 5000) => new Promise<PeekResult>((resolve) => peekClientHello(socket, timeoutMs, resolve));

/** Everything `socket` holds or still receives, read after the peek (as the TLS handshake would). */
async function rest(socket: Socket, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  socket.on('data', (chunk: Buffer) => ((total += chunk.length), chunks.push(chunk)));
  socket.resume();
  for (let i = 0; i < 100 && total < length; i++) await new Promise((r) => setTimeout(r, 10));
  return Buffer.concat(chunks);
}

describe('peekClientHello', () => {
  const sessionId = Buffer.alloc(32, 0xaa);
  const identity = Buffer.alloc(32, 0xbb);
  const hello = record(handshake(helloBody(sessionId, [identity])));

  it('reads a ClientHello sent in pieces, then leaves every byte (and what followed) for the handshake, the socket paused with no listener', async () => {
    const { server, client, close } = await accepted();
    try {
      const listeners = () => ['data', 'end', 'close', 'error'].map((event) => server.listenerCount(event));
      const before = listeners();
      const result = peek(server);
      client.write(hello.subarray(0, 10));
      await new Promise((r) => setTimeout(r, 20));
      client.write(Buffer.concat([hello.subarray(10), Buffer.from('after')]));
      const info = await result;
      expect('hello' in info && info.hello?.pskIdentities[0]?.equals(identity)).toBe(true);
      expect([server.isPaused(), ...listeners()]).toEqual([true, ...before]);
      expect((await rest(server, hello.length + 5)).equals(Buffer.concat([hello, Buffer.from('after')]))).toBe(true);
    } finally {
      close();
    }
  });

  it('a client that closes first is reported closed; one that sends nothing times out', async () => {
    const first = await accepted();
    const second = await accepted();
    try {
      const closed = peek(first.server);
      first.client.end(hello.subarray(0, 20));
      expect(await closed).toEqual({ failure: 'closed' });
      expect(await peek(second.server, 50)).toEqual({ failure: 'timeout' });
    } finally {
      first.close();
      second.close();
    }
  });
});
