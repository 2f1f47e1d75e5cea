import { constants } from 'node:crypto';
import net from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import type { ServerConfig, SslConfig } from '../../../src/config/types.js';
import { serverConfig } from '../../integration/fixtures.js';
import {
  builtinStore,
  endpointSessions,
  localSessionServices,
  MemorySessionStore,
  SHARED_BYTES_PER_SESSION,
  sharedStore,
  TieredSessionStore,
  type SessionStore,
} from '../../../src/net/session-cache.js';
import { sessionFields } from '../../../src/net/session-der.js';
import { buildServerContexts } from '../../../src/net/tls-contexts.js';
import { TlsEndpoint } from '../../../src/net/tls-endpoint.js';
import { TEST_CERT, TEST_KEY } from './session-test-cert.js';

const id = (n: number) => Buffer.alloc(32, n);
const session = (n: number, size = 130) => Buffer.alloc(size, n);

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('MemorySessionStore', () => {
  it('builtin:N keeps N sessions and evicts the oldest stored (a hit does not refresh it)', () => {
    const store = builtinStore(3);
    for (const n of [1, 2, 3]) store.setSync(id(n), session(n), 60_000);
    expect(store.getSync(id(1))?.[0]).toBe(1);
    store.setSync(id(4), session(4), 60_000);
    expect(store.size).toBe(3);
    expect(store.getSync(id(1))).toBeUndefined();
    expect([2, 3, 4].map((n) => store.getSync(id(n))?.[0])).toEqual([2, 3, 4]);
  });

  it('a session expires after its timeout (ssl_session_timeout of the server that stored it)', () => {
    const time = clock();
    const store = new MemorySessionStore({ maxSessions: 10, now: time.now });
    store.setSync(id(1), session(1), 1000);
    store.setSync(id(2), session(2), 5000);
    time.advance(999);
    expect(store.getSync(id(1))).toBeDefined();
    time.advance(1);
    expect(store.getSync(id(1))).toBeUndefined();
    expect(store.getSync(id(2))).toBeDefined();
    time.advance(4000);
    store.setSync(id(3), session(3), 1000);
    // Swept from the oldest end when storing.
    expect(store.size).toBe(1);
  });

  it('storing an id again replaces it (and makes it the newest); delete drops it', () => {
    const store = builtinStore(2);
    store.setSync(id(1), session(1), 60_000);
    store.setSync(id(2), session(2), 60_000);
    store.setSync(id(1), session(9), 60_000);
    store.setSync(id(3), session(3), 60_000);
    expect(store.getSync(id(2))).toBeUndefined();
    expect(store.getSync(id(1))?.[0]).toBe(9);
    store.deleteSync(id(1));
    expect(store.getSync(id(1))).toBeUndefined();
    expect(store.size).toBe(1);
  });

  it('shared:name:size holds about 4000 typical sessions per megabyte, fewer big ones, none over 4096 bytes', () => {
    const store = sharedStore(1024 * 1024);
    for (let n = 0; n < 5000; n++) store.setSync(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'), session(n & 0xff), 60_000);
    expect(store.size).toBeGreaterThan(3990);
    expect(store.size).toBeLessThan(4010);
    expect(store.chargedBytes).toBeLessThanOrEqual(1024 * 1024);
    expect(SHARED_BYTES_PER_SESSION).toBe(262);
    const big = sharedStore(1024 * 1024);
    for (let n = 0; n < 2000; n++) big.setSync(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'), session(1, 1500), 60_000);
    expect(big.size).toBeLessThan(700);
    big.setSync(id(1), session(1, 4097), 60_000);
    expect(big.getSync(id(1))).toBeUndefined();
  });

  it('builtin then shared: a lookup tries both, changes reach both', async () => {
    const builtin = builtinStore(1);
    const shared = sharedStore(1024 * 1024);
    const both = new TieredSessionStore(builtin, shared);
    await both.set(id(1), session(1), 60_000);
    await both.set(id(2), session(2), 60_000);
    expect(builtin.getSync(id(1))).toBeUndefined();
    expect((await both.get(id(1)))?.[0]).toBe(1);
    await both.delete(id(2));
    expect(await both.get(id(2))).toBeUndefined();
    expect(shared.getSync(id(2))).toBeUndefined();
  });

  it('lookupNow: stores of this process answer at once; behind a tier that cannot, the answer is left to get', async () => {
    const c = clock();
    const builtin = builtinStore(4, c.now);
    builtin.setSync(id(1), session(1), 1000);
    expect(builtin.lookupNow(id(1))?.[0]).toBe(1);
    expect(builtin.lookupNow(id(2))).toBeNull();
    c.advance(1000);
    expect(builtin.lookupNow(id(1))).toBeNull();

    const shared = sharedStore(1024 * 1024);
    shared.setSync(id(3), session(3), 60_000);
    const local = new TieredSessionStore(builtinStore(4), shared);
    expect(local.lookupNow(id(3))?.[0]).toBe(3);
    expect(local.lookupNow(id(4))).toBeNull();

    // Another process's store (no lookupNow): a miss in the local tier cannot be answered at once.
    const remoteHeld = sharedStore(1024 * 1024);
    remoteHeld.setSync(id(5), session(5), 60_000);
    const remote: SessionStore = { get: async (key) => remoteHeld.getSync(key), set: async () => undefined, delete: async () => undefined };
    const withRemote = new TieredSessionStore(shared, remote);
    expect(withRemote.lookupNow(id(3))?.[0]).toBe(3);
    expect(withRemote.lookupNow(id(5))).toBeUndefined();
    expect((await withRemote.get(id(5)))?.[0]).toBe(5);
    expect(new TieredSessionStore(remote, shared).lookupNow(id(3))).toBeUndefined();
  });
});


const serverWith = (cache: SslConfig['sessionCache'], line = 10): ServerConfig =>
  serverConfig({ where: { file: 'mail.conf', line }, ssl: { ...serverConfig().ssl, sessionCache: cache } });

describe('endpointSessions: ssl_session_cache to stores', () => {
  it('off and none store nothing; builtin is per server; shared:NAME is one store for every server naming it', () => {
    const services = localSessionServices();
    expect(endpointSessions(serverWith({ off: true }), services).store).toBeNull();
    expect(endpointSessions(serverWith({ off: false }), services).store).toBeNull();
    const b1 = endpointSessions(serverWith({ off: false, builtinSessions: 20480 }), services).store;
    const b2 = endpointSessions(serverWith({ off: false, builtinSessions: 20480 }), services).store;
    expect(b1).toBeInstanceOf(MemorySessionStore);
    expect(b1).not.toBe(b2);
    const s1 = endpointSessions(serverWith({ off: false, shared: { name: 'SSL', sizeBytes: 1 << 20 } }), services).store;
    const s2 = endpointSessions(serverWith({ off: false, shared: { name: 'SSL', sizeBytes: 1 << 20 } }, 20), services).store;
    const other = endpointSessions(serverWith({ off: false, shared: { name: 'OTHER', sizeBytes: 1 << 20 } }), services).store;
    expect(s1).toBe(s2);
    expect(other).not.toBe(s1);
    expect(endpointSessions(serverWith({ off: false, builtinSessions: 10, shared: { name: 'SSL', sizeBytes: 1 << 20 } }), services).store).toBeInstanceOf(TieredSessionStore);
  });

  it('postern_ssl_session_store: the external store alone, or after the local ones; nothing with off', async () => {
    const services = localSessionServices();
    const external = sharedStore(1 << 20);
    const withStore = (cache: SslConfig['sessionCache']) => ({ ...serverWith(cache), sessionStore: { text: 'redis://r:1', host: 'r', port: 1, db: 0 } });
    expect(endpointSessions(withStore({ off: false }), services, () => external).store).toBe(external);
    expect(endpointSessions(withStore({ off: true }), services, () => external).store).toBeNull();
    const tiered = endpointSessions(withStore({ off: false, builtinSessions: 10 }), services, () => external).store!;
    await tiered.set(id(7), session(7), 60_000);
    expect(external.getSync(id(7))?.[0]).toBe(7);
  });

  it('random ticket keys: one per server{}, stable for the same server', () => {
    const services = localSessionServices();
    const key = (line: number) => endpointSessions(serverWith({ off: false }, line), services).ticketKeys[0]!.name.toString('hex');
    expect(key(10)).toBe(key(10));
    expect(key(10)).not.toBe(key(11));
  });
});

/** A TlsEndpoint on a loopback listener, with a builtin store and tickets off (session ids only). */
async function endpointWithCache(
  version: 'TLSv1.2' | 'TLSv1.3',
  wrap: (store: MemorySessionStore) => SessionStore = (store) => store,
  handshakeTimeoutMs = 5000,
) {
  const store = builtinStore(100);
  const endpoint = new TlsEndpoint({
    contexts: buildServerContexts(
      {
        options: { cert: TEST_CERT, key: TEST_KEY, sessionIdContext: 'T', minVersion: 'TLSv1.2', maxVersion: version, secureOptions: constants.SSL_OP_NO_TICKET },
        sni: [],
        where: { file: 'test.conf', line: 1 },
      },
      [],
    ),
    protocol: 'imap',
    handshakeTimeoutMs,
    requestCert: false,
    sessions: { store: wrap(store), timeoutMs: 300_000 },
  });
  const secured: TLSSocket[] = [];
  const failures: string[] = [];
  const listener = net.createServer((socket) => {
    socket.pause();
    endpoint.handshake(socket, {
      secure: (s) => {
        secured.push(s);
        s.end('* OK\r\n');
      },
      failed: (reason) => {
        failures.push(reason);
        socket.destroy();
      },
    });
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return { store, endpoint, secured, failures, port: (listener.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => listener.close(() => r())) };
}

function client(port: number, version: 'TLSv1.2' | 'TLSv1.3', session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let last: Buffer | undefined;
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, minVersion: version, maxVersion: version, ...(session ? { session } : {}) });
    socket.on('session', (s: Buffer) => (last = s));
    socket.on('error', reject);
    socket.resume();
    socket.on('end', () => resolve({ reused: socket.isSessionReused(), session: last ?? socket.getSession() }));
  });
}

describe('TlsEndpoint with a session cache', () => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`${version}, tickets off: resumes from the cache; forgetSession drops the session the socket established`, async () => {
      const e = await endpointWithCache(version);
      try {
        const first = await client(e.port, version);
        expect(first.reused).toBe(false);
        expect(e.store.size).toBeGreaterThan(0);
        const second = await client(e.port, version, first.session);
        expect(second.reused).toBe(true);
        // The server side of the last handshake: forget what it established, as after a refused certificate.
        const third = await client(e.port, version, second.session);
        expect(third.reused).toBe(true);
        const socket = e.secured.at(-1)!;
        const established = sessionFields(socket.getSession()!)!.id;
        expect(e.store.getSync(established)).toBeDefined();
        await e.endpoint.forgetSession(socket);
        expect(e.store.getSync(established)).toBeUndefined();
        if (version === 'TLSv1.2') expect((await client(e.port, version, third.session)).reused).toBe(false);
      } finally {
        await e.close();
      }
    });
  }

  it('a store that answers late (another process) does not hold the handshake: a line written and ended at once arrives (TLS 1.3)', async () => {
    const later = () => new Promise((resolve) => setTimeout(resolve, 20));
    const e = await endpointWithCache('TLSv1.3', (store) => ({
      get: async (key) => (await later(), store.getSync(key)),
      set: async (key, value, ms) => (await later(), store.setSync(key, value, ms)),
      delete: async (key) => store.deleteSync(key),
    }));
    try {
      const received = await new Promise<string>((resolve, reject) => {
        let text = '';
        const socket = tls.connect({ port: e.port, host: '127.0.0.1', rejectUnauthorized: false, minVersion: 'TLSv1.3' });
        socket.on('data', (d: Buffer) => (text += d.toString()));
        socket.on('error', reject);
        socket.on('end', () => resolve(text));
      });
      expect(received).toBe('* OK\r\n');
    } finally {
      await e.close();
    }
  });

  it('a store that can only answer later (no lookupNow) still resumes TLS 1.2 sessions by id', async () => {
    const e = await endpointWithCache('TLSv1.2', (store) => ({
      get: async (key) => (await new Promise((resolve) => setTimeout(resolve, 5)), store.getSync(key)),
      set: async (key, value, ms) => store.setSync(key, value, ms),
      delete: async (key) => store.deleteSync(key),
    }));
    try {
      const first = await client(e.port, 'TLSv1.2');
      expect((await client(e.port, 'TLSv1.2', first.session)).reused).toBe(true);
    } finally {
      await e.close();
    }
  });

  /** Raw bytes to the endpoint; resolves with what came back once the server closes. */
  function raw(port: number, send: (socket: net.Socket) => void): Promise<Buffer> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const socket = net.connect(port, '127.0.0.1', () => send(socket));
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(Buffer.concat(chunks)));
    });
  }

  it('reading the ClientHello first (TLS 1.3, cache, tickets off): garbage still fails the handshake, a silent client times out', async () => {
    const e = await endpointWithCache('TLSv1.3', undefined, 300);
    try {
      await raw(e.port, (socket) => socket.write('GET / HTTP/1.0\r\n\r\n'));
      expect(e.failures[0]).toMatch(/^SSL handshake failed: /);
      await raw(e.port, () => undefined);
      expect(e.failures[1]).toBe('client timed out while SSL handshaking');
    } finally {
      await e.close();
    }
  });

  it('reading the ClientHello first: one sent byte by byte still completes the handshake', async () => {
    const e = await endpointWithCache('TLSv1.3');
    try {
      // A real ClientHello, captured from a Node client through a loopback pipe.
      const hello = await new Promise<Buffer>((resolve) => {
        const capture = net.createServer((socket) => socket.once('data', (d: Buffer) => (resolve(d), socket.destroy())));
        capture.listen(0, '127.0.0.1', () => {
          const c = tls.connect({ port: (capture.address() as net.AddressInfo).port, host: '127.0.0.1', rejectUnauthorized: false });
          c.on('error', () => capture.close());
        });
      });
      const answer = await raw(e.port, (socket) => {
        let i = 0;
        const next = () => {
          if (i >= hello.length) return;
          socket.write(hello.subarray(i, ++i), next);
        };
        next();
        socket.setTimeout(2000, () => socket.destroy());
      });
      expect(answer[0]).toBe(0x16); // the ServerHello record
    } finally {
      await e.close();
    }
  });
});
