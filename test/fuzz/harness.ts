/**
 * What every fuzzing case shares: watching the process for escaped errors, a logger that keeps
 * Postern's alerts (its containment's "internal error in this connection"), the leak check over
 * `process.getActiveResourcesInfo()`, the scripted client, counters and a test certificate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';

export const HOST = '127.0.0.1';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ---------------------------------------------------------------- the process

/** Records every uncaught exception and unhandled rejection of this process while installed. */
export class ProcessWatch {
  readonly faults: string[] = [];
  readonly #onUncaught = (error: Error) => this.faults.push(`uncaughtException: ${error.stack ?? String(error)}`);
  readonly #onUnhandled = (reason: unknown) =>
    this.faults.push(`unhandledRejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`);

  install(): void {
    process.on('uncaughtException', this.#onUncaught);
    process.on('unhandledRejection', this.#onUnhandled);
  }

  dispose(): void {
    process.off('uncaughtException', this.#onUncaught);
    process.off('unhandledRejection', this.#onUnhandled);
  }

  #reported = 0;

  /** Faults not reported yet (those between two cases go to the next one). */
  take(): string[] {
    const fresh = this.faults.slice(this.#reported);
    this.#reported = this.faults.length;
    return fresh;
  }
}

/** A logger that keeps Postern's `alert` lines (pino's fatal): each one is a fault of Postern's own. */
export function alertLogger(): { logger: Logger; alerts: string[] } {
  const alerts: string[] = [];
  const logger = pino({ level: 'fatal' }, { write: (line: string) => void alerts.push(line.trim()) });
  return { logger, alerts };
}

// ---------------------------------------------------------------- leaks

/** Active handles and requests by kind, and this process's event listeners by event. */
export type Resources = Map<string, number>;

export function resources(): Resources {
  const out: Resources = new Map();
  for (const kind of process.getActiveResourcesInfo()) out.set(kind, (out.get(kind) ?? 0) + 1);
  for (const name of process.eventNames()) out.set(`process listener '${String(name)}'`, process.listenerCount(name));
  return out;
}

function excess(now: Resources, before: Resources): string[] {
  const out: string[] = [];
  for (const [kind, count] of now) {
    const was = before.get(kind) ?? 0;
    if (count > was) out.push(`${kind}: ${was} -> ${count}`);
  }
  return out;
}

/**
 * Waits (bounded) until nothing is above `before`: closed sockets and finished timers take a turn
 * or two of the event loop to go. Returns what is still there after `timeoutMs` (empty: no leak).
 */
export async function leaksAfter(before: Resources, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
    const left = excess(resources(), before);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await sleep(wait);
  }
}

// ---------------------------------------------------------------- the client

export type Transport = 'plain' | 'tls' | 'starttls';

/** How the client waits after writing a chunk: 0 not at all (coalesces), 1 a turn, 2+ that many ms. */
export type Pace = number;

export interface ConnectionPlan {
  transport: Transport;
  /** The bytes to send, cut where the generated split points fell. */
  chunks: Buffer[];
  /** One pause per chunk, after it. */
  pacing: Pace[];
  /** The command that ends a session of this protocol (`QUIT`, `zz LOGOUT`); sent after the chunks. */
  quit: string;
  /** STARTTLS transport: the upgrade command and the start of its positive reply. */
  starttls?: { command: string; ok: RegExp };
}

export interface ConnectionOutcome {
  output: Buffer;
  /** The server closed the connection (FIN or reset) within the bound. */
  ended: boolean;
  /** Whether the STARTTLS transport actually upgraded. */
  upgraded: boolean;
  /**
   * The client saw a socket error (a reset, EPIPE on a write after the server closed). Node then
   * drops what the kernel still held for it, so the last replies may be missing from `output`.
   */
  reset: boolean;
  /** Chunks written before the server closed (the rest were not sent). */
  chunksSent: number;
  durationMs: number;
}

const FLOOD = Buffer.alloc(9 * 1024, 'x');

/**
 * One scripted connection: connect (TLS for `tls`), for `starttls` read the greeting and upgrade
 * when the server agrees, write the chunks with their pauses, then the quit command (again after a
 * short wait, up to three times: a literal or SASL step may swallow one), then 9 KiB without a line
 * end, and wait up to `endWithinMs` for the server to close. Never throws: what happened is in the outcome.
 */
export async function runConnection(port: number, tlsPort: number | undefined, plan: ConnectionPlan, endWithinMs: number): Promise<ConnectionOutcome> {
  const started = performance.now();
  const output: Buffer[] = [];
  let closed = false;
  let reset = false;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const raw: net.Socket =
    plan.transport === 'tls' && tlsPort !== undefined
      ? tls.connect({ port: tlsPort, host: HOST, rejectUnauthorized: false })
      : net.connect({ port, host: HOST });
  let stream: net.Socket = raw;
  const onData = (chunk: Buffer) => {
    output.push(chunk);
    poke();
  };
  const onClose = () => {
    closed = true;
    poke();
  };
  const attach = (socket: net.Socket) => {
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', () => {
      reset = true;
    });
  };
  raw.setNoDelay(true);
  attach(raw);

  /** Resolves when `ready()` holds, the connection closed, or `ms` passed; returns `ready()`. */
  const until = async (ready: () => boolean, ms: number): Promise<boolean> => {
    const deadline = performance.now() + ms;
    while (!ready() && !closed) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          wake = null;
          resolve();
        }, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return ready();
  };
  const text = () => Buffer.concat(output).toString('latin1');

  let connected = false;
  raw.once(raw instanceof tls.TLSSocket ? 'secureConnect' : 'connect', () => {
    connected = true;
    poke();
  });
  await until(() => connected, endWithinMs);

  let upgraded = false;
  if (plan.transport === 'starttls' && plan.starttls && !closed) {
    // The greeting, then the upgrade command alone; TLS only when the server said yes.
    const greeted = await until(() => text().includes('\r\n'), 2_000);
    if (greeted && !closed) {
      const mark = text().length;
      raw.write(`${plan.starttls.command}\r\n`);
      const answered = await until(() => text().indexOf('\r\n', mark) >= 0, 2_000);
      const reply = text().slice(mark);
      if (answered && plan.starttls.ok.test(reply) && !closed) {
        raw.off('data', onData);
        raw.off('close', onClose);
        const secure = tls.connect({ socket: raw, rejectUnauthorized: false });
        stream = secure;
        attach(secure);
        raw.once('close', onClose);
        let ready = false;
        secure.once('secureConnect', () => {
          ready = true;
          poke();
        });
        upgraded = await until(() => ready, 2_000);
      }
    }
  }

  let chunksSent = 0;
  for (let i = 0; i < plan.chunks.length && !closed && !stream.destroyed; i++) {
    stream.write(plan.chunks[i]!);
    chunksSent++;
    const pace = plan.pacing[i] ?? 0;
    if (pace === 1) await nextTurn();
    else if (pace >= 2) await sleep(pace - 1);
  }
  for (let attempt = 0; attempt < 3 && !closed && !stream.destroyed; attempt++) {
    stream.write(`\r\n${plan.quit}\r\n`);
    await until(() => false, 40 * (attempt + 1));
  }
  // Still open: a literal or a line the server is right to wait for. More bytes than any client
  // buffer holds end that at once (too long command), instead of the whole `timeout`.
  if (!closed && !stream.destroyed) stream.write(FLOOD);
  await until(() => false, endWithinMs);
  const ended = closed;
  if (!closed) stream.destroy();
  raw.destroy();
  return { output: Buffer.concat(output), ended, upgraded, reset, chunksSent, durationMs: performance.now() - started };
}

/** Cuts `bytes` at the given points (taken modulo its length, deduplicated). */
export function cut(bytes: Buffer, points: number[]): Buffer[] {
  if (bytes.length === 0) return [];
  const at = [...new Set(points.map((p) => p % bytes.length))].filter((p) => p > 0).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of at) {
    chunks.push(bytes.subarray(last, p));
    last = p;
  }
  chunks.push(bytes.subarray(last));
  return chunks;
}

// ---------------------------------------------------------------- counting

export class Counter {
  cases = 0;
  connections = 0;
  inputs = 0;
  bytes = 0;
  ms = 0;

  /** What the cases reached (auth requests, backend logins, TLS upgrades...), to see the coverage. */
  readonly reached = new Map<string, number>();

  note(what: string, count: number): void {
    this.reached.set(what, (this.reached.get(what) ?? 0) + count);
  }

  line(name: string): string {
    const seconds = this.ms / 1000;
    const reached = [...this.reached].map(([what, n]) => `${n} ${what}`).join(', ');
    return `${name.padEnd(18)} ${String(this.inputs).padStart(8)} inputs ${String(this.cases).padStart(6)} cases ${String(this.connections).padStart(7)} connections ${(this.bytes / 1024).toFixed(0).padStart(6)} KiB ${seconds.toFixed(1).padStart(7)} s (${(this.inputs / Math.max(seconds, 0.001)).toFixed(0)}/s)${reached === '' ? '' : `; reached: ${reached}`}`;
  }
}

// ---------------------------------------------------------------- TLS

/** A self-signed EC certificate made with the openssl CLI (one per test file). */
export function makeCertificate(): { dir: string; certificate: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'postern-fuzz-'));
  const certificate = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-days', '2', '-keyout', key, '-out', certificate],
    { stdio: 'ignore' },
  );
  return { dir, certificate, key };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
