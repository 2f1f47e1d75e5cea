/**
 * The relay's backend-to-client bytes when the backend socket reads into buffers Postern chooses
 * (src/proxy/relay-reads.ts): one buffer shared by every backend socket, copied out of at once,
 * and, while bulk data flows, buffers from a shared pool handed to the client's write() as they
 * are. Whatever the backends send, in whatever bursts, and however slowly each client reads,
 * every client gets its own backend's bytes, in order: a read never lands in a buffer a pending
 * write still holds. Several sessions run at once so that they share the process-wide buffer.
 * Real sockets on loopback; each case is bounded in bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { connectPlainBackend, relayChosenReads } from '../../src/proxy/relay-reads.js';
import { relay } from '../../src/proxy/relay.js';

const digest = (bytes: Buffer | Buffer[]) => createHash('sha256').update(Buffer.concat(([] as Buffer[]).concat(bytes))).digest('hex');

/** One backend server per case: each connection is written `bursts`, with pauses between them. */
interface Plan {
  bursts: Array<{ size: number; pauseMs: number }>;
  /** How the client reads: at once, or not before `startMs`, then pausing `pauseMs` every `everyBytes`. */
  reader: { startMs: number; everyBytes: number; pauseMs: number } | null;
}

const burst = fc.record({ size: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 16_000, max: 200_000 })), pauseMs: fc.constantFrom(0, 0, 1, 5) });
const plan: fc.Arbitrary<Plan> = fc.record({
  bursts: fc.array(burst, { minLength: 1, maxLength: 8 }),
  reader: fc.option(
    fc.record({ startMs: fc.constantFrom(0, 50, 200), everyBytes: fc.integer({ min: 1_000, max: 300_000 }), pauseMs: fc.constantFrom(1, 5, 20) }),
    { nil: null },
  ),
});

const servers: net.Server[] = [];
afterAll(() => {
  for (const server of servers) server.close();
});

const listen = async (server: net.Server): Promise<number> => {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The proxy's side: clients connect here; each accepted socket is relayed to a fresh backend connection. */
let clientPort = 0;
let backendPort = 0;
/** What each backend connection sends, by the client's first byte (its session number). */
const sends = new Map<number, Plan & { bytes: Buffer[] }>();

beforeAll(async () => {
  backendPort = await listen(
    net.createServer((socket) => {
      socket.once('data', async (hello: Buffer) => {
        const session = sends.get(hello[0]!)!;
        for (const [i, { pauseMs }] of session.bursts.entries()) {
          if (!socket.write(session.bytes[i]!)) await new Promise((resolve) => socket.once('drain', resolve));
          if (pauseMs > 0) await sleep(pauseMs);
        }
        socket.end();
      });
    }),
  );
  clientPort = await listen(
    net.createServer((client) => {
      client.once('data', (hello: Buffer) => {
        client.pause();
        const backend = connectPlainBackend({ host: '127.0.0.1', port: backendPort, noDelay: true }, () => undefined);
        backend.once('connect', () => {
          void relay(client, backend, { toClient: Buffer.alloc(0), toBackend: hello, idleTimeoutMs: 30_000 });
        });
      });
    }),
  );
});

/** One client: says its session number, then reads everything as `reader` says. */
async function session(number: number, reader: Plan['reader']): Promise<Buffer[]> {
  const socket = net.connect(clientPort, '127.0.0.1');
  const received: Buffer[] = [];
  let sinceRest = 0;
  socket.on('data', (chunk: Buffer) => {
    received.push(chunk);
    sinceRest += chunk.length;
    if (reader !== null && sinceRest >= reader.everyBytes) {
      sinceRest = 0;
      socket.pause();
      setTimeout(() => socket.resume(), reader.pauseMs);
    }
  });
  if (reader !== null && reader.startMs > 0) {
    socket.pause();
    setTimeout(() => socket.resume(), reader.startMs);
  }
  socket.write(Buffer.from([number]));
  await new Promise((resolve) => socket.once('close', resolve));
  return received;
}

let nextSession = 0;

/** Each plan's bytes drawn and kept under a new session number; the numbers, in order. */
const register = (plans: Plan[]): number[] =>
  plans.map((p) => {
    const number = nextSession++ % 256;
    sends.set(number, { ...p, bytes: p.bursts.map((b) => randomBytes(b.size)) });
    return number;
  });

describe('backend reads into chosen buffers (relay, backend to client)', () => {
  test.prop([fc.array(plan, { minLength: 1, maxLength: 5 })], { numRuns: 12 })('every client gets its own backend bytes, in order', async (plans) => {
    const numbers = register(plans);
    const received = await Promise.all(numbers.map((n, i) => session(n, plans[i]!.reader)));
    numbers.forEach((n, i) => {
      const sent = sends.get(n)!.bytes;
      expect(Buffer.concat(received[i]!).length).toBe(Buffer.concat(sent).length);
      expect(digest(received[i]!)).toBe(digest(sent));
    });
  });

  it('a client that does not read while other sessions small reads share the buffer', async () => {
    // Session 0 fills its client's socket (megabytes it does not read yet), then gets small
    // bursts: their writes wait, and each is a copy of the shared buffer others read into meanwhile.
    const stalled: Plan = {
      bursts: [...Array.from({ length: 40 }, () => ({ size: 200_000, pauseMs: 0 })), ...Array.from({ length: 200 }, (_, i) => ({ size: 1 + ((i * 97) % 3_000), pauseMs: 0 }))],
      reader: { startMs: 400, everyBytes: 1_000_000, pauseMs: 5 },
    };
    const chatty = (): Plan => ({ bursts: Array.from({ length: 150 }, (_, i) => ({ size: 1 + ((i * 389) % 15_000), pauseMs: 1 })), reader: null });
    const plans = [stalled, chatty(), chatty(), { ...chatty(), reader: { startMs: 100, everyBytes: 20_000, pauseMs: 5 } }];
    const numbers = register(plans);
    const received = await Promise.all(numbers.map((n, i) => session(n, plans[i]!.reader)));
    numbers.forEach((n, i) => expect(digest(received[i]!)).toBe(digest(sends.get(n)!.bytes)));
  });

  it('a client transport that takes a full read without asking to wait: the next read does not reuse its buffer', async () => {
    // A write that stays pending while write() says "go on" (a high-water mark above a read):
    // the bytes are read when the write completes, as a socket's pending write sends them.
    const sent = randomBytes(3_000_000);
    const port = await listen(net.createServer((socket) => socket.end(sent)));
    const received: Buffer[] = [];
    const client = new Writable({
      highWaterMark: 8 << 20,
      write(chunk: Buffer, _encoding, done) {
        setTimeout(() => {
          received.push(Buffer.from(chunk));
          done();
        }, 1);
      },
    });
    const backend = connectPlainBackend({ host: '127.0.0.1', port, noDelay: true }, () => undefined);
    relayChosenReads(backend, client);
    await new Promise((resolve) => backend.once('end', resolve));
    await new Promise((resolve) => client.end(resolve));
    expect(digest(received)).toBe(digest(sent));
  });
});
