/**
 * The bounds of the relay's read pool (src/proxy/relay-reads.ts), as a plaintext backend uses it.
 * A backend socket whose last read was at least the probe's size (here: one that filled the probe)
 * is lent a 64 KB pool buffer for its next read, and keeps it until that
 * read comes: a session that goes quiet right then holds one. However many sessions do, at most
 * MAX_LENT buffers are lent (the others read into the shared probe and lose no byte), at most
 * MAX_SPARE are kept for reuse, and a socket that closes gives its buffer back. Real sockets on
 * loopback, as many sessions as the bound plus a few.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPlainBackend, MAX_LENT, MAX_SPARE, PROBE_SIZE, readBuffers } from '../../../src/proxy/relay-reads.js';

const SESSIONS = MAX_LENT + 8;
/** What each backend sends once asked: more than a pool buffer, so that lent buffers are read into. */
const BULK = 200_000;

const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The backend's side of each connection, in the order they were accepted. */
const accepted: net.Socket[] = [];
let server: net.Server;
let port = 0;

beforeAll(async () => {
  // Each connection gets exactly one probe's worth at once: one read that fills the probe.
  server = net.createServer((socket) => {
    accepted.push(socket);
    socket.write(Buffer.alloc(PROBE_SIZE, 0x2a));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(() => {
  for (const socket of accepted) socket.destroy();
  server.close();
});

async function until(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** SESSIONS backend connections, each past its first read (one probe's worth, which filled it). */
async function quietSessions(): Promise<{ clients: net.Socket[]; backends: net.Socket[]; received: Buffer[][]; sizes: number[]; mostLent: () => number }> {
  const first = accepted.length;
  const received: Buffer[][] = Array.from({ length: SESSIONS }, () => []);
  const sizes = new Array<number>(SESSIONS).fill(0);
  let mostLent = 0;
  const clients = received.map((chunks, i) =>
    connectPlainBackend({ host: '127.0.0.1', port }, (chunk) => {
      chunks.push(chunk);
      sizes[i]! += chunk.length;
      mostLent = Math.max(mostLent, readBuffers().lent);
    }),
  );
  await until('every probe-sized first read', () => sizes.every((size) => size === PROBE_SIZE));
  expect(accepted).toHaveLength(first + SESSIONS);
  return { clients, backends: accepted.slice(first), received, sizes, mostLent: () => mostLent };
}

/** Destroys them and waits for their `close` events (`closed` is already true when destroy() returns). */
async function closeAll(clients: net.Socket[]): Promise<void> {
  const closes = clients.map((client) => new Promise((resolve) => client.once('close', resolve)));
  for (const client of clients) client.destroy();
  await Promise.all(closes);
}

describe('relay read pool bounds', () => {
  it('sessions quiet after a full read hold at most MAX_LENT buffers, and give them back when they close', async () => {
    expect(readBuffers()).toEqual({ lent: 0, spare: 0 });
    const { clients } = await quietSessions();
    // Each of them filled its buffer, so each asked for a pool buffer; only MAX_LENT got one.
    expect(readBuffers()).toEqual({ lent: MAX_LENT, spare: 0 });
    await closeAll(clients);
    // All of them back: none lent, MAX_SPARE kept for reuse, the rest left to the GC.
    expect(readBuffers()).toEqual({ lent: 0, spare: MAX_SPARE });
  });

  it('past the bound, reads go to the shared probe: every session gets its bytes in order while they share the pool', async () => {
    const { clients, backends, received, sizes, mostLent } = await quietSessions();
    // Every backend sends at once: the lent buffers are read into, the other sessions' reads go
    // to the probe, and the sessions take turns for the pool.
    const sent = backends.map(() => randomBytes(BULK));
    backends.forEach((socket, i) => socket.write(sent[i]!));
    await until('every bulk transfer', () => sizes.every((size) => size === PROBE_SIZE + BULK));
    for (const [i, chunks] of received.entries()) {
      expect(digest(Buffer.concat(chunks).subarray(PROBE_SIZE)), `session ${i}`).toBe(digest(sent[i]!));
    }
    expect(mostLent()).toBeLessThanOrEqual(MAX_LENT);
    expect(readBuffers().spare).toBeLessThanOrEqual(MAX_SPARE);
    await closeAll(clients);
    expect(readBuffers().lent).toBe(0);
  });
});
