/**
 * Journal overhead on a full POP3 login session over loopback (greeting, USER, PASS, auth
 * service, backend login, relay, QUIT): the same loop against a proxy without and with
 * `postern_journal`. Not a test (no timed assertions); run it with
 *   npx tsx test/journal/measure-overhead.ts [sessions-per-round] [rounds]
 * and copy the figure into docs/journal.md.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthOutcome } from '../../machines/types.js';
import { silentLogger } from '../../src/log.js';
import { Secret } from '../../src/secret.js';
import { startProxy } from '../../src/server.js';
import { fakeBackend, LineClient, serverConfig } from '../integration/fixtures.js';

const sessions = Number(process.argv[2] ?? 300);
const rounds = Number(process.argv[3] ?? 5);

const backend = await fakeBackend('pop3');
const auth = {
  request: async (): Promise<AuthOutcome> => ({ status: 'ok', server: '127.0.0.1', port: backend.port, user: 'test@example.com', password: new Secret('secret') }),
};
const dir = mkdtempSync(join(tmpdir(), 'postern-overhead-'));
const plain = await startProxy({ file: 'bench', servers: [serverConfig({ protocol: 'pop3' })], notices: [] }, { logger: silentLogger(), authFor: () => auth });
const journaled = await startProxy(
  { file: 'bench', servers: [serverConfig({ protocol: 'pop3', journalDir: dir })], notices: [] },
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
const min = (xs: number[]) => Math.min(...xs);
await plain.close();
await journaled.close();
await backend.close();
const files = readdirSync(dir).length;
rmSync(dir, { recursive: true, force: true });
console.log(`node ${process.version}, ${sessions} sessions x ${rounds} rounds, ${files} journal files written`);
for (const [name, pick] of [['median', median], ['min', min]] as const) {
  for (const key of ['wall', 'cpu'] as const) {
    const a = pick(without.map((r) => r[key]));
    const b = pick(withJournal.map((r) => r[key]));
    console.log(`${name} ${key}: ${a.toFixed(0)} -> ${b.toFixed(0)} µs/session, overhead ${(b - a).toFixed(0)} µs (${(((b - a) / a) * 100).toFixed(1)} %)`);
  }
}
