import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrimarySessionService, workerSessionServices, type IpcPeer } from '../../../src/net/session-store-ipc.js';
import { TEST_CERT, TEST_KEY } from './session-test-cert.js';

const WORKER = fileURLToPath(new URL('./fixtures/session-worker.ts', import.meta.url));

interface Worker {
  child: ChildProcess;
  ports: { shared: number; tickets: number };
}

function startWorker(serve: (peer: IpcPeer) => void): Promise<Worker> {
  const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  serve(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    child.on('message', (message: { test?: string; shared?: number; tickets?: number }) => {
      if (message.test === 'ready') resolve({ child, ports: { shared: message.shared!, tickets: message.tickets! } });
    });
    child.send({ test: 'start', cert: TEST_CERT.toString(), key: TEST_KEY.toString() });
  });
}

/** One handshake: which worker answered, whether the session was reused, and the session to offer next. */
function handshake(port: number, version: 'TLSv1.2' | 'TLSv1.3', session?: Buffer): Promise<{ pid: string; reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let last: Buffer | undefined;
    let text = '';
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, minVersion: version, maxVersion: version, ...(session ? { session } : {}) });
    socket.on('session', (s: Buffer) => (last = s));
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('error', reject);
    socket.on('end', () => resolve({ pid: text.trim(), reused: socket.isSessionReused(), session: last ?? socket.getSession() }));
  });
}

describe('sessions across worker processes (cluster IPC to the primary)', () => {
  const service = createPrimarySessionService();
  const workers: Worker[] = [];

  beforeAll(async () => {
    workers.push(...(await Promise.all([startWorker((peer) => service.serve(peer)), startWorker((peer) => service.serve(peer))])));
  });

  afterAll(() => {
    for (const worker of workers) worker.child.kill();
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`shared:SSL, tickets off, ${version}: a session made by one worker resumes on the other`, async () => {
      const [one, two] = workers;
      const first = await handshake(one!.ports.shared, version);
      expect(first.reused).toBe(false);
      const second = await handshake(two!.ports.shared, version, first.session);
      expect(second.pid).not.toBe(first.pid);
      expect(second.reused).toBe(true);
      expect(service.stores.get('SSL')!.size).toBeGreaterThan(0);
    });
  }

  it('random ticket keys: a ticket from one worker resumes on the other (the same key for the same server{})', async () => {
    const [one, two] = workers;
    const first = await handshake(one!.ports.tickets, 'TLSv1.2');
    const second = await handshake(two!.ports.tickets, 'TLSv1.2', first.session);
    expect(second.pid).not.toBe(first.pid);
    expect(second.reused).toBe(true);
  });

  it('a worker whose primary does not answer gets no services (no hang)', async () => {
    const silent: IpcPeer = { send: () => true, on: () => undefined, off: () => undefined };
    await expect(workerSessionServices(silent, 200)).rejects.toThrow(/did not answer/);
  });
});
