/**
 * Loopback port allocation for end-to-end tests.
 *
 * Ports are taken from a slice of 20000-29999 chosen by the vitest worker id, so two
 * workers never hand out the same port and no port collides with the kernel's ephemeral
 * range (32768-60999) used for outgoing connections. Every candidate is verified by
 * binding it on 127.0.0.1 (and releasing it) before it is returned.
 */
import net from 'node:net';

const RANGE_START = 20000;
const RANGE_SIZE = 10000;
const SLICES = 8;
const SLICE_SIZE = RANGE_SIZE / SLICES; // 1250 ports per worker slice

function workerSlice(): number {
  const id = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? '1');
  return Number.isFinite(id) ? Math.abs(Math.trunc(id)) % SLICES : 0;
}

const sliceBase = RANGE_START + workerSlice() * SLICE_SIZE;
// Start at a random offset so that a re-run right after a crash does not trip over
// sockets in TIME_WAIT or a leaked daemon from the previous run.
let cursor = Math.floor(Math.random() * SLICE_SIZE);
const handedOut = new Set<number>();

/** Resolves true when `port` can be bound on 127.0.0.1 right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => {
      srv.close(() => resolve(true));
    });
  });
}

/** One free loopback port (not handed out before by this process). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < SLICE_SIZE; i++) {
    const port = sliceBase + ((cursor + i) % SLICE_SIZE);
    if (handedOut.has(port)) continue;
    if (await isPortFree(port)) {
      cursor = (cursor + i + 1) % SLICE_SIZE;
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`ports: no free port in ${sliceBase}-${sliceBase + SLICE_SIZE - 1}`);
}

/** `n` distinct free loopback ports. */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await freePort());
  return out;
}

/**
 * Resolves when something LISTENs on 127.0.0.1:`port` (checked in /proc/net/tcp, so no
 * connection is made and the daemon sees no session). Rejects after `timeoutMs`.
 */
export async function waitForListen(port: number, timeoutMs = 10_000, isAlive?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (isAlive && !isAlive()) throw new Error(`process exited before listening on port ${port}`);
    if (await isListening(port)) return;
    await sleep(25);
  }
  throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/** True when a TCP socket on `port` is in LISTEN state (IPv4 or IPv6 table). */
export async function isListening(port: number): Promise<boolean> {
  const { readFile } = await import('node:fs/promises');
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      const state = cols[3];
      if (local && state === '0A' && local.endsWith(`:${hexPort}`)) return true;
    }
  }
  return false;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
