/**
 * Postern as a real process (the CLI from source, through tsx) in front of a scripted POP3
 * backend and the test auth_http server, for the process-model tests: reload, workers, -s.
 */
import { chownSync, copyFileSync, existsSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { fakeBackend, LineClient } from '../integration/fixtures.js';
import { startAuthServer, type AuthServer } from '../e2e/harness/auth-server.js';
import { run, spawnDaemon, type Daemon, type RunResult } from '../e2e/harness/proc.js';
import { freePorts, sleep } from '../e2e/harness/ports.js';
import { generateCert, type CertFiles } from '../e2e/harness/tls.js';
import { makeTempDir } from '../e2e/harness/proc.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = ['--import', 'tsx', path.join(ROOT, 'src/cli/bin.ts')];

export const USER = 'test@example.com';
export const PASSWORD = 'secret';

export interface LogLine {
  level: string;
  pid: number;
  msg: string;
}

/** The error_log lines of `text` (nginx's `YYYY/MM/DD HH:MM:SS [level] PID#TID: message`); other lines are left out. */
export function parseErrorLog(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    const match = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] (\d+)#\d+: (.*)$/.exec(line);
    if (match !== null) out.push({ level: match[1]!, pid: Number(match[2]), msg: match[3]! });
  }
  return out;
}

/** Polls `check` every 25 ms until it returns a value (bounded). */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** `postern ARGS` to completion. */
export const posternCommand = (args: string[]): Promise<RunResult> => run(process.execPath, [...CLI, ...args], { cwd: ROOT, timeoutMs: 30_000 });

export interface PosternProcess {
  daemon: Daemon;
  pid: number;
  /** Everything the process (and its workers) wrote to stdout/stderr. */
  output(): string;
  /** Every error_log line (nginx's format) written to stdout/stderr: its level, pid and message. */
  logs(): LogLine[];
  waitForLog(re: RegExp, after?: number): Promise<string>;
}

/** The account the tests run Postern as when it must not be root (nobody:nogroup on Debian). */
export const NOBODY = 65534;

export interface StartOptions {
  args?: string[];
  /** Start Postern as nobody, not root: it then serves in one process (see docs/operations.md). */
  asNobody?: boolean;
}

export async function startPostern(configPath: string, pidFile: string, options: StartOptions = {}): Promise<PosternProcess> {
  const account = options.asNobody ? { uid: NOBODY, gid: NOBODY } : {};
  const daemon = spawnDaemon(process.execPath, [...CLI, '-c', configPath, ...(options.args ?? [])], { cwd: ROOT, ...account });
  const pid = await until(`pid file ${pidFile}\n${daemon.output()}`, () => {
    if (!daemon.alive()) throw new Error(`postern exited:\n${daemon.output()}`);
    if (!existsSync(pidFile)) return undefined;
    const text = readFileSync(pidFile, 'utf8').trim();
    return text === '' ? undefined : Number(text);
  });
  const logs = () => parseErrorLog(daemon.output());
  return {
    daemon,
    pid,
    output: daemon.output,
    logs,
    waitForLog: (re, after = 0) =>
      until(`a log line matching ${re}\n${daemon.output()}`, () => logs().slice(after).find((l) => re.test(l.msg))?.msg),
  };
}

export interface Backends {
  auth: AuthServer;
  backend: Awaited<ReturnType<typeof fakeBackend>>;
  close(): Promise<void>;
}

export async function startBackends(): Promise<Backends> {
  const backend = await fakeBackend('pop3');
  const auth = await startAuthServer({ users: { [USER]: PASSWORD }, backends: { pop3: backend.port } });
  return {
    auth,
    backend,
    close: async () => {
      await auth.close();
      await backend.close();
    },
  };
}

export const writeConfig = (file: string, text: string): void => writeFileSync(file, text);

/** Gives `dir` and everything in it to nobody (a Postern started as nobody writes its pid file there and reads the keys). */
export function handToNobody(dir: string): void {
  chownSync(dir, NOBODY, NOBODY);
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) chownSync(path.join(dir, name), NOBODY, NOBODY);
}

/** The process ids of a master's workers, from its `start worker process N` lines (dead ones included). */
export const workerPids = (postern: PosternProcess): number[] =>
  postern
    .logs()
    .map((l) => /^start worker process (\d+)$/.exec(l.msg)?.[1])
    .filter((pid): pid is string => pid !== undefined)
    .map(Number);

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The effective uid of process `pid` (from /proc). */
export const uidOf = (pid: number): number => Number(/^Uid:\s+\d+\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

/** `ADDRESS:PORT` of every listening TCP socket held by one of `pids` (`ss -ltnpH`). */
export async function listeningBy(pids: number[]): Promise<string[]> {
  const { stdout } = await run('ss', ['-ltnpH']);
  return stdout
    .split('\n')
    .filter((line) => pids.some((pid) => line.includes(`pid=${pid},`)))
    .map((line) => line.trim().split(/\s+/)[3]!)
    .sort();
}

/**
 * What every process test starts from: a temp dir with two certificates (CN a.test and b.test),
 * `live.crt`/`live.key` holding one of them (the files the configuration names), free ports,
 * the backends, and where the configuration and pid files go.
 */
export interface Workbench {
  dir: string;
  ports: number[];
  backends: Backends;
  certA: CertFiles;
  certB: CertFiles;
  /** The certificate and key files the configuration names. */
  live: { certificate: string; key: string };
  /** Copies `cert` into the live files (a reload then serves it). */
  useCertificate(cert: CertFiles): void;
  conf: string;
  pidFile: string;
}

export async function workbench(name: string, portCount: number): Promise<Workbench> {
  const dir = await makeTempDir(name);
  const ports = await freePorts(portCount);
  const backends = await startBackends();
  const certA = await generateCert({ dir, name: 'a', type: 'ec', cn: 'a.test' });
  const certB = await generateCert({ dir, name: 'b', type: 'ec', cn: 'b.test' });
  const live = { certificate: path.join(dir, 'live.crt'), key: path.join(dir, 'live.key') };
  const useCertificate = (cert: CertFiles) => {
    copyFileSync(cert.certPath, live.certificate);
    copyFileSync(cert.keyPath, live.key);
  };
  useCertificate(certA);
  return { dir, ports, backends, certA, certB, live, useCertificate, conf: path.join(dir, 'postern.conf'), pidFile: path.join(dir, 'postern.pid') };
}

/** A POP3 session through Postern, logged in and relayed to the fake backend. */
export async function relayedPop3(port: number, options: { tls?: boolean } = {}): Promise<LineClient> {
  const client = await LineClient.connect(port, options);
  await expectLine(client, /^\+OK/);
  client.send(`USER ${USER}\r\n`);
  await expectLine(client, /^\+OK/);
  client.send(`PASS ${PASSWORD}\r\n`);
  await expectLine(client, /^\+OK/);
  return client;
}

/** A command the backend answers with its own words: proof the relay still runs. */
export async function stillRelays(client: LineClient): Promise<string | null> {
  client.send('STAT\r\n');
  return client.line(5000);
}

export async function expectLine(client: LineClient, re: RegExp): Promise<string> {
  const line = await client.line(5000);
  if (line === null || !re.test(line)) throw new Error(`expected ${re}, got ${JSON.stringify(line)}`);
  return line;
}

/** The SHA-256 fingerprint of the certificate a new TLS connection to `port` is shown. */
export function certificateFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
      resolve(socket.getPeerX509Certificate()!.fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

export const peerFingerprint = (client: LineClient): string => (client.socket as tls.TLSSocket).getPeerX509Certificate()!.fingerprint256;

/**
 * A client loop that connects to `port` again and again (greeting read, then hang up) until
 * stopped or `max` connections: every failure is a connection a reload refused or dropped.
 */
export function hammer(port: number, max = 20_000): { stop(): Promise<{ ok: number; failed: string[] }> } {
  let running = true;
  let ok = 0;
  const failed: string[] = [];
  const loop = (async () => {
    while (running && ok + failed.length < max) {
      try {
        const client = await LineClient.connect(port);
        await expectLine(client, /^\+OK/);
        client.close();
        ok++;
      } catch (error) {
        failed.push((error as Error).message);
      }
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ok, failed };
    },
  };
}

const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');

/** The inode of the loopback TCP socket whose local port is `port` and remote port `remotePort` (0 for the listener). */
function socketInode(port: number, remotePort: number): string | undefined {
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .find((cols) => cols[1]?.endsWith(`:${hex4(port)}`) && cols[2]?.endsWith(`:${hex4(remotePort)}`))?.[9];
}

function holdsSocket(pid: number, inode: string): boolean {
  const socket = `socket:[${inode}]`;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === socket;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** The process (among `pids`) holding the server side of `socket`'s connection to `port`, from /proc. */
export function servingProcess(socket: net.Socket, port: number, pids: number[]): number | undefined {
  const inode = socketInode(port, socket.localPort!);
  return inode === undefined ? undefined : pids.find((pid) => holdsSocket(pid, inode));
}

/** Whether process `pid` holds the socket listening on `port` (a worker that has bound its listeners). */
export function holdsListener(pid: number, port: number): boolean {
  const inode = socketInode(port, 0);
  return inode !== undefined && holdsSocket(pid, inode);
}

/** A first TLS connection to `port`: the session ticket it was given. */
export function tlsTicket(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    // Tickets come in records after the handshake: keep reading (the greeting) to see them.
    socket.resume();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no TLS session ticket within 5 s'));
    }, 5000);
    socket.once('session', (ticket: Buffer) => {
      clearTimeout(timer);
      resolve(ticket);
      socket.destroy();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** Whether a new TLS connection to `port` offering `ticket` resumed that session. */
export async function resumes(port: number, ticket: Buffer): Promise<boolean> {
  return (await resumeOn(port, ticket, [])).reused;
}

/** A new TLS connection to `port` offering `session`: resumed or not, and which of `pids` served it. */
export function resumeOn(port: number, session: Buffer, pids: number[], options: tls.ConnectionOptions = {}): Promise<{ reused: boolean; pid: number | undefined }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, session, ...options }, () => {
      resolve({ reused: socket.isSessionReused(), pid: servingProcess(socket, port, pids) });
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

/** A TLS 1.2 session (session id, no ticket when the server issues none) from a first connection. */
export function tls12Session(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, maxVersion: 'TLSv1.2' }, () => {
      const session = socket.getSession();
      socket.destroy();
      if (session === undefined) reject(new Error('no TLS 1.2 session'));
      else resolve(session);
    });
    socket.once('error', reject);
  });
}
