import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { relay } from '../../../src/proxy/relay.js';
import { socketPair } from './loopback.js';

/** Everything `socket` receives until it ends or closes. */
function collect(socket: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const open: net.Socket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});

/** Proxy-side client socket, the client itself, proxy-side backend socket, the backend itself. */
async function setup() {
  const [client, clientPeer] = await socketPair();
  const [backendPeer, backend] = await socketPair();
  open.push(client, clientPeer, backend, backendPeer);
  return { client, clientPeer, backend, backendPeer };
}

describe('relay', () => {
  it('sends the prelude first, copies both ways, and flushes everything before closing when the backend ends', async () => {
    const { client, clientPeer, backend, backendPeer } = await setup();
    const atClient = collect(clientPeer);
    const atBackend: Buffer[] = [];
    backendPeer.on('data', (chunk: Buffer) => {
      atBackend.push(chunk);
      if (Buffer.concat(atBackend).toString().endsWith('a2 LOGOUT\r\n')) {
        backendPeer.write('* BYE\r\na2 OK bye\r\n');
        backendPeer.end();
      }
    });
    const result = relay(client, backend, { toClient: Buffer.from('a1 OK logged in\r\n'), toBackend: Buffer.from('a2 NOOP\r\n'), idleTimeoutMs: 60_000 });
    clientPeer.write('a2 LOGOUT\r\n');
    expect(await result).toEqual({ reason: 'upstream closed connection' });
    expect((await atClient).toString()).toBe('a1 OK logged in\r\n* BYE\r\na2 OK bye\r\n');
    expect(Buffer.concat(atBackend).toString()).toBe('a2 NOOP\r\na2 LOGOUT\r\n');
  });

  it('keeps every byte of a large transfer to a slow reader (backpressure) and ends when the client closes', async () => {
    const { client, clientPeer, backend, backendPeer } = await setup();
    const payload = randomBytes(8 * 1024 * 1024);
    const chunks: Buffer[] = [];
    let received = 0;
    const done = new Promise<void>((resolve) => {
      clientPeer.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        // Read in small bursts: pause and resume on the next turn.
        clientPeer.pause();
        setImmediate(() => clientPeer.resume());
        if (received === payload.length) resolve();
      });
    });
    const backendEnded = new Promise<void>((resolve) => backendPeer.once('end', resolve));
    backendPeer.resume();
    const result = relay(client, backend, { toClient: Buffer.alloc(0), toBackend: Buffer.alloc(0), idleTimeoutMs: 60_000 });
    backendPeer.write(payload);
    await done;
    expect(sha(Buffer.concat(chunks))).toBe(sha(payload));
    clientPeer.end();
    await backendEnded;
    expect(await result).toEqual({ reason: 'client closed connection' });
    expect(client.destroyed && backend.destroyed).toBe(true);
  });

  it('settles at once when the client is already gone', async () => {
    const { client, backend } = await setup();
    client.destroy();
    expect(await relay(client, backend, { toClient: Buffer.alloc(0), toBackend: Buffer.alloc(0), idleTimeoutMs: 60_000 })).toEqual({
      reason: 'client error: Premature close',
    });
    expect(backend.destroyed).toBe(true);
  });

  it('reports a side closed without its end while relaying as a premature close of that side', async () => {
    const { client, backend } = await setup();
    const result = relay(client, backend, { toClient: Buffer.alloc(0), toBackend: Buffer.alloc(0), idleTimeoutMs: 60_000 });
    backend.destroy();
    expect(await result).toEqual({ reason: 'upstream error: Premature close', failure: { side: 'upstream', error: new Error('Premature close') } });
    expect(client.destroyed).toBe(true);
  });

  it('reports a reset backend as an upstream error', async () => {
    const { client, backend, backendPeer } = await setup();
    const result = relay(client, backend, { toClient: Buffer.alloc(0), toBackend: Buffer.alloc(0), idleTimeoutMs: 60_000 });
    backendPeer.resetAndDestroy();
    expect((await result).reason).toMatch(/^upstream error: /);
    expect(client.destroyed).toBe(true);
  });
});
