/**
 * The relay reads the client's transport (an accepted socket, or a server TLS socket over one)
 * into chosen buffers, as a plaintext backend is read (src/proxy/relay-reads.ts,
 * `switchToChosenReads`). Node offers that only for sockets it makes itself, so Postern finds
 * the socket's own read hooks: these tests fail if a Node release takes them away (Postern would
 * then read with `data` events again, correct but dearer), and hold every byte of an upload, in
 * order, with what the transport had read before the relay going first.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { relay } from '../../../src/proxy/relay.js';
import { readBuffers, readsIntoChosenBuffers, switchToChosenReads } from '../../../src/proxy/relay-reads.js';
import { generateCert, makeTempDir, removeDir } from '../../e2e/harness/index.js';
import { socketPair } from './loopback.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const open: net.Socket[] = [];
// Last opened first: a TLS socket before the socket beneath it. (Destroying an accepted socket and
// then, in the same turn, the server TLS socket over it crashes Node 20.20 and 24.21 with a
// segmentation fault; Postern destroys the TLS transport, or the accepted socket alone.)
afterEach(() => {
  for (const s of open.splice(0).reverse()) s.destroy();
});

let dir = '';
let context: tls.SecureContext;
beforeAll(async () => {
  dir = await makeTempDir('relay-reads-client');
  const cert = await generateCert({ type: 'ec', dir, name: 'ec', cn: 'relay.test' });
  const { readFileSync } = await import('node:fs');
  context = tls.createSecureContext({ cert: readFileSync(cert.certPath), key: readFileSync(cert.keyPath) });
});
afterAll(() => removeDir(dir));

/** `[accepted side, connecting side]` of a loopback connection; with `secure`, a server TLS socket over the accepted one. */
async function clientPair(secure: boolean): Promise<[net.Socket, net.Socket]> {
  const [inner, raw] = await socketPair();
  open.push(inner, raw);
  if (!secure) return [inner, raw];
  const serverSide = new tls.TLSSocket(inner, { isServer: true, secureContext: context });
  const clientSide = tls.connect({ socket: raw, rejectUnauthorized: false });
  open.push(serverSide, clientSide);
  await Promise.all([new Promise((r) => serverSide.once('secure', r)), new Promise((r) => clientSide.once('secureConnect', r))]);
  return [serverSide, clientSide];
}

/** A backend that reads slowly (pausing after each chunk), so that the relay's writes ask it to wait. */
async function slowBackend(): Promise<{ proxySide: net.Socket; received: Promise<Buffer> }> {
  const [backend, proxySide] = await socketPair();
  open.push(proxySide, backend);
  const chunks: Buffer[] = [];
  backend.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    backend.pause();
    setTimeout(() => backend.resume(), 1);
  });
  const received = new Promise<Buffer>((resolve) => backend.once('end', () => resolve(Buffer.concat(chunks))));
  backend.on('end', () => backend.end());
  return { proxySide, received };
}

/** Until `transport` holds at least `bytes` read and not given out (it is paused). */
async function buffered(transport: net.Socket, bytes: number): Promise<void> {
  transport.read(0);
  for (let waited = 0; transport.readableLength < bytes && waited < 5000; waited += 5) await new Promise((r) => setTimeout(r, 5));
  expect(transport.readableLength).toBeGreaterThanOrEqual(bytes);
}

describe.each([false, true])('relay reads of the client transport into chosen buffers (TLS: %s)', (secure) => {
  it('this Node lets the relay choose the transport’s read buffers; what it had read goes first, then every read, in order', async () => {
    const [transport, client] = await clientPair(secure);
    transport.pause();
    const early = randomBytes(3000);
    client.write(early);
    await buffered(transport, early.length);
    const got: Buffer[] = [];
    const sink = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        got.push(Buffer.from(chunk));
        done();
      },
    });
    expect(switchToChosenReads(transport, sink)).toBe(true);
    expect(readsIntoChosenBuffers(transport)).toBe(true);
    // Once: a socket already reading into chosen buffers is not taken again.
    expect(switchToChosenReads(transport, sink)).toBe(false);
    expect(Buffer.concat(got).equals(early)).toBe(true);
    const later = randomBytes(200_000);
    transport.resume();
    client.write(later);
    for (let waited = 0; Buffer.concat(got).length < early.length + later.length && waited < 5000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    expect(sha(Buffer.concat(got))).toBe(sha(Buffer.concat([early, later])));
  });

  it('relays an upload whole and in order, through a backend that makes it wait, reading it into chosen buffers once it is bulk', async () => {
    const [transport, client] = await clientPair(secure);
    const { proxySide, received } = await slowBackend();
    // Read by the transport before the relay starts, and not given out yet (the session's
    // input had stopped): it must reach the backend before anything read afterwards. Two reads
    // of bulk size, and a backend side whose write buffer is full (corked behind a prelude of
    // its size): the relay's first write asks it to wait, so the second read is still held when
    // the transport switches to chosen buffers, and must be handed on once, by the switch.
    transport.pause();
    const [first, second] = [randomBytes(6000), randomBytes(6000)];
    client.write(first);
    await buffered(transport, 6000);
    client.write(second);
    await buffered(transport, 12_000);
    const prelude = randomBytes(proxySide.writableHighWaterMark);
    proxySide.cork();
    setTimeout(() => proxySide.uncork(), 20);
    const upload = randomBytes(1024 * 1024 + 123);
    const done = relay(transport, proxySide, { toClient: Buffer.alloc(0), toBackend: prelude, idleTimeoutMs: 60_000 });
    for (let at = 0; at < upload.length; at += 100_000) {
      if (!client.write(upload.subarray(at, at + 100_000))) await new Promise((r) => client.once('drain', r));
    }
    client.end();
    const bytes = await received;
    expect(readsIntoChosenBuffers(transport)).toBe(true);
    expect(bytes.length).toBe(prelude.length + 12_000 + upload.length);
    expect(sha(bytes)).toBe(sha(Buffer.concat([prelude, first, second, upload])));
    expect((await done).reason).toMatch(/closed connection/);
    // The pool's buffers all came back once both sockets closed.
    await new Promise((r) => setTimeout(r, 50));
    expect(readBuffers().lent).toBe(0);
  });

  it('leaves a relay that only trickles (commands, an IDLE) on Node’s own reads: it holds nothing more', async () => {
    const [transport, client] = await clientPair(secure);
    const { proxySide, received } = await slowBackend();
    const done = relay(transport, proxySide, { toClient: Buffer.alloc(0), toBackend: Buffer.alloc(0), idleTimeoutMs: 60_000 });
    const lines = Array.from({ length: 20 }, (_, i) => `a${i} NOOP\r\n`).join('');
    for (const line of lines.match(/[^\n]+\n/g)!) {
      client.write(line);
      await new Promise((r) => setTimeout(r, 2));
    }
    client.end();
    expect((await received).toString()).toBe(lines);
    await done;
    expect(readsIntoChosenBuffers(transport)).toBe(false);
  });
});

describe('relay reads of a backend over TLS into chosen buffers', () => {
  it('relays a download from a TLS backend whole and in order, and switches the backend socket once it is bulk', async () => {
    const [transport, client] = await clientPair(false);
    // Postern's side of a TLS backend connection is a client TLS socket; the backend's, a server one.
    const [backendServer, backendSocket] = await clientPair(true);
    const received: Buffer[] = [];
    client.on('data', (chunk: Buffer) => received.push(chunk));
    const done = relay(transport, backendSocket, { toClient: Buffer.from('a1 OK\r\n'), toBackend: Buffer.alloc(0), idleTimeoutMs: 60_000 });
    const download = randomBytes(1024 * 1024 + 77);
    for (let at = 0; at < download.length; at += 50_000) {
      if (!backendServer.write(download.subarray(at, at + 50_000))) await new Promise((r) => backendServer.once('drain', r));
    }
    for (let waited = 0; Buffer.concat(received).length < 7 + download.length && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    expect(sha(Buffer.concat(received))).toBe(sha(Buffer.concat([Buffer.from('a1 OK\r\n'), download])));
    expect(readsIntoChosenBuffers(backendSocket)).toBe(true);
    backendServer.end();
    expect((await done).reason).toMatch(/upstream closed connection/);
  });
});
