import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AuthRequest } from '../../../machines/types.js';
import type { AuthHttpTarget } from '../../../src/config/types.js';
import { AuthHttpClient } from '../../../src/auth/client.js';
import { buildAuthRequest } from '../../../src/auth/request.js';
import { Secret } from '../../../src/secret.js';

const request: AuthRequest = {
  method: 'plain',
  user: 'test@example.com',
  password: new Secret('secret'),
  protocol: 'imap',
  attempt: 1,
  clientIp: '127.0.0.1',
};
const OK = 'HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 8143\r\n\r\n';

/** A loopback auth server driven by `behave(socket, requestBytesSoFar)`. */
interface Fake {
  port: number;
  requests: Buffer[];
  close(): Promise<void>;
}
const open: Fake[] = [];

async function fakeServer(behave: (socket: net.Socket, received: Buffer) => void, path?: string): Promise<Fake> {
  const sockets = new Set<net.Socket>();
  const requests: Buffer[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let received = Buffer.alloc(0);
    const index = requests.push(received) - 1;
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      requests[index] = received;
      if (received.includes('\r\n\r\n')) behave(socket, received);
    });
  });
  await new Promise<void>((resolve) => (path ? server.listen(path, resolve) : server.listen(0, '127.0.0.1', resolve)));
  const fake: Fake = {
    port: path ? 0 : (server.address() as net.AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  open.push(fake);
  return fake;
}

const tcp = (port: number): AuthHttpTarget => ({ url: `http://127.0.0.1:${port}/auth`, host: '127.0.0.1', port, uri: '/auth', hostHeader: '127.0.0.1' });
const ask = (target: AuthHttpTarget, timeoutMs = 2000, signal = new AbortController().signal, headers: Array<[string, string]> = []) =>
  new AuthHttpClient(target, headers, timeoutMs).request(request, signal);

const counted = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'PipeWrap' || r === 'Timeout').length;
// Real timers, kept before any test fakes them.
const realSetTimeout = globalThis.setTimeout;
const settle = (ms = 30) => new Promise((resolve) => realSetTimeout(resolve, ms));

/**
 * The auth_http_timeout deadline on a clock that only the test moves (setTimeout/clearTimeout
 * faked; sockets, setImmediate and setInterval stay real). An outcome that arrives while the
 * clock stands still came from the socket, not from the deadline: no wall-clock bound needed.
 */
const freezeClock = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });

/** Whether `promise` has settled, after letting pending I/O and callbacks run. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return settled;
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((fake) => fake.close()));
});

describe('AuthHttpClient against a loopback auth server', () => {
  it('sends the request bytes and parses an OK answer', async () => {
    const fake = await fakeServer((socket) => socket.end(OK));
    const target = tcp(fake.port);
    const outcome = await ask(target, 2000, undefined, [['X-Key', 'k']]);
    expect(outcome).toEqual({ status: 'ok', server: '127.0.0.1', port: 8143 });
    expect(fake.requests[0]).toEqual(buildAuthRequest(target, request, [['X-Key', 'k']]));
  });

  it('reads the answer when it comes in pieces, and stops at the empty line without waiting for EOF', async () => {
    const fake = await fakeServer((socket) => {
      let i = 0;
      const next = () => {
        if (i < OK.length) socket.write(OK.slice(i, (i += 7)), 'latin1');
        if (i < OK.length) setTimeout(next, 2);
      };
      next();
    });
    expect(await ask(tcp(fake.port))).toMatchObject({ status: 'ok', port: 8143 });
  });

  it('a refused port is an error at once, not at the deadline', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    freezeClock();
    const outcome = await ask(tcp(port), 5000);
    expect(outcome).toEqual({ status: 'error', reason: 'recv() failed (111: Connection refused)' });
    expect(vi.getTimerCount()).toBe(0); // the deadline was cleared, never reached
  });

  it('a silent server: timeout error exactly at auth_http_timeout', async () => {
    let requested!: () => void;
    const arrived = new Promise<void>((resolve) => (requested = resolve));
    const fake = await fakeServer(() => requested());
    freezeClock();
    const pending = ask(tcp(fake.port), 300);
    await arrived;
    vi.advanceTimersByTime(299);
    expect(await hasSettled(pending)).toBe(false);
    vi.advanceTimersByTime(1);
    expect(await pending).toEqual({ status: 'error', reason: `auth http server 127.0.0.1:${fake.port} timed out (110: Connection timed out)` });
  });

  it('the timeout covers the whole exchange, not each read', async () => {
    let lines = 0;
    const fake = await fakeServer((socket) => {
      const timer = setInterval(() => (socket.destroyed ? clearInterval(timer) : (socket.write('X-Trickle: 1\r\n'), lines++)), 10);
      socket.on('close', () => clearInterval(timer));
    });
    freezeClock();
    const pending = ask(tcp(fake.port), 300);
    // Ten steps of 30 ms on the test's clock, header lines arriving between every two: a
    // deadline renewed by each read would never expire.
    for (let step = 1; step < 10; step++) {
      const before = lines;
      while (lines < before + 2) await settle(5);
      vi.advanceTimersByTime(30);
      expect(await hasSettled(pending), `settled after ${step * 30} ms`).toBe(false);
    }
    await settle(30);
    vi.advanceTimersByTime(30);
    expect(await pending).toEqual({ status: 'error', reason: `auth http server 127.0.0.1:${fake.port} timed out (110: Connection timed out)` });
  });

  it('a server closing before the end of the headers: error', async () => {
    const fake = await fakeServer((socket) => socket.end('HTTP/1.0 200 OK\r\nAuth-Status: OK\r\n'));
    expect(await ask(tcp(fake.port))).toEqual({ status: 'error', reason: `auth http server 127.0.0.1:${fake.port} prematurely closed connection` });
    const silent = await fakeServer((socket) => socket.end());
    expect(await ask(tcp(silent.port))).toMatchObject({ status: 'error', reason: expect.stringContaining('prematurely closed') });
  });

  it('a reset connection: error', async () => {
    const fake = await fakeServer((socket) => socket.resetAndDestroy());
    expect(await ask(tcp(fake.port))).toMatchObject({ status: 'error' });
  });

  it('more than 1024 bytes without the end of the headers: error without waiting for the timeout', async () => {
    const fake = await fakeServer((socket) => socket.write(`HTTP/1.0 200 OK\r\n${'X-Pad: aaaaaaaaaaaaaaaaaaaa\r\n'.repeat(80)}`));
    freezeClock();
    expect(await ask(tcp(fake.port), 5000)).toEqual({ status: 'error', reason: `auth http server 127.0.0.1:${fake.port} sent too big response` });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('exactly 1024 bytes ending with the empty line is fine, even with more data after it', async () => {
    const head = `${OK.slice(0, -2)}X-Pad: `;
    const answer = `${head}${'a'.repeat(1024 - head.length - 4)}\r\n\r\n`;
    expect(answer.length).toBe(1024);
    const fake = await fakeServer((socket) => socket.write(`${answer}${'body'.repeat(1000)}`));
    expect(await ask(tcp(fake.port))).toMatchObject({ status: 'ok' });
  });

  it('an invalid header is an error as soon as it arrives', async () => {
    const fake = await fakeServer((socket) => socket.write('HTTP/1.0 200 OK\r\nX_Bad: 1\r\n'));
    freezeClock();
    expect(await ask(tcp(fake.port), 5000)).toEqual({ status: 'error', reason: `auth http server 127.0.0.1:${fake.port} sent invalid header in response` });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('abort: closes the connection and resolves aborted', async () => {
    let closed = false;
    const fake = await fakeServer((socket) => socket.on('close', () => (closed = true)));
    const controller = new AbortController();
    const pending = ask(tcp(fake.port), 5000, controller.signal);
    setTimeout(() => controller.abort(), 50);
    expect(await pending).toEqual({ status: 'error', reason: 'aborted' });
    await settle();
    expect(closed).toBe(true);
    const aborted = new AbortController();
    aborted.abort();
    expect(await ask(tcp(fake.port), 5000, aborted.signal)).toEqual({ status: 'error', reason: 'aborted' });
  });

  it('unix socket: Host localhost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-auth-'));
    try {
      const path = join(dir, 'auth.sock');
      const fake = await fakeServer((socket) => socket.end(OK), path);
      const target: AuthHttpTarget = { url: `unix:${path}`, unixPath: path, uri: '/', hostHeader: 'localhost' };
      expect(await ask(target)).toMatchObject({ status: 'ok' });
      expect(fake.requests[0]!.toString('latin1')).toMatch(/^GET \/ HTTP\/1\.0\r\nHost: localhost\r\n/);
      const missing: AuthHttpTarget = { ...target, unixPath: join(dir, 'none.sock') };
      expect(await ask(missing)).toEqual({
        status: 'error',
        reason: `connect() to unix:${join(dir, 'none.sock')} failed (2: No such file or directory)`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('never puts the password in a reason', async () => {
    const secretRequest = { ...request, password: new Secret('hunter2-very-secret') };
    const fake = await fakeServer((socket) => socket.end('X_Bad\r\n\r\n'));
    const outcome = await new AuthHttpClient(tcp(fake.port), [], 1000).request(secretRequest, new AbortController().signal);
    expect(JSON.stringify(outcome)).not.toContain('hunter2');
  });

  it('leaves no sockets or timers behind', async () => {
    await settle();
    const before = counted();
    const ok = await fakeServer((socket) => socket.end(OK));
    const silent = await fakeServer(() => undefined);
    const big = await fakeServer((socket) => socket.write('X: '.padEnd(3000, 'a')));
    const controller = new AbortController();
    const aborted = ask(tcp(silent.port), 5000, controller.signal);
    setTimeout(() => controller.abort(), 20);
    await Promise.all([ask(tcp(ok.port)), ask(tcp(silent.port), 100), ask(tcp(big.port)), aborted, ask(tcp(1), 1000)]);
    await Promise.all(open.splice(0).map((fake) => fake.close()));
    await settle();
    expect(counted()).toBeLessThanOrEqual(before);
  });
});
