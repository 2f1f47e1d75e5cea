/**
 * Journal overhead on a full POP3 login session over loopback (greeting, USER, PASS, auth
 * service, backend login, relay, QUIT): the same loop against a proxy without and with
 * `postern_journal`, alternating rounds. Used by `npm run bench` (phase `journal`).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthOutcome } from '../machines/types.js';
import { silentLogger } from '../src/log.js';
import { Secret } from '../src/secret.js';
import { startProxy } from '../src/server.js';
import { fakeBackend, LineClient, serverConfig } from '../test/integration/fixtures.js';

export interface JournalOverhead {
  sessions: number;
  rounds: number;
  files: number;
  /** Medians over the rounds, µs per session: wall clock, and CPU of this process (client, proxy and backend). */
  without: { wall: number; cpu: number };
  with: { wall: number; cpu: number };
}

export async function measureJournalOverhead(sessions: number, rounds: number): Promise<JournalOverhead> {
  const backend = await fakeBackend('pop3');
  const auth = {
    request: async (): Promise<AuthOutcome> => ({ status: 'ok', server: '127.0.0.1', port: backend.port, user: 'test@example.com', password: new Secret('secret') }),
  };
  const dir = mkdtempSync(join(tmpdir(), 'postern-overhead-'));
  const plain = await startProxy({ file: 'bench', servers: [serverConfig({ protocol: 'pop3' })], notices: [], workerProcesses: 1, workerConnections: 512 }, { logger: silentLogger(), authFor: () => auth });
  const journaled = await startProxy(
    { file: 'bench', servers: [serverConfig({ protocol: 'pop3', journalDir: dir })], notices: [], workerProcesses: 1, workerConnections: 512 },
    { logger: silentLogger(), authFor: () => auth },
  );

  async function session(port: number): Promise<void> {
    const client = await LineClient.connect(port);
    await client.line();
    client.send('USER someone\r\nPASS Pa55-w0rd\r\n');
    await client.lines(2);
    client.send('QUIT\r\n');
    await client.lines(2);
    client.close();
  }

  interface Round {
    wall: number;
    cpu: number;
  }

  /** Wall-clock and process CPU time (user + system; client, proxy and backend all run here) per session, µs. */
  async function loop(port: number): Promise<Round> {
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    for (let i = 0; i < sessions; i++) await session(port);
    const used = process.cpuUsage(cpu);
    return { wall: Number(process.hrtime.bigint() - started) / 1e3 / sessions, cpu: (used.user + used.system) / sessions };
  }

  // Warm-up (JIT, TLS-free path, file system).
  await loop(plain.listeners[0]!.port);
  await loop(journaled.listeners[0]!.port);
  const without: Round[] = [];
  const withJournal: Round[] = [];
  for (let r = 0; r < rounds; r++) {
    without.push(await loop(plain.listeners[0]!.port));
    withJournal.push(await loop(journaled.listeners[0]!.port));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  await plain.close();
  await journaled.close();
  await backend.close();
  const files = readdirSync(dir).length;
  rmSync(dir, { recursive: true, force: true });
  const pickBoth = (rs: Round[]) => ({ wall: median(rs.map((r) => r.wall)), cpu: median(rs.map((r) => r.cpu)) });
  return { sessions, rounds, files, without: pickBoth(without), with: pickBoth(withJournal) };
}
