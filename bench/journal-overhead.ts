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
import { fakeBackend, serverConfig } from '../test/integration/fixtures.js';
import { compareSessionCost, type SessionCost } from './session-rounds.js';

export interface JournalOverhead {
  sessions: number;
  rounds: number;
  files: number;
  /** Medians over the rounds, µs per session: wall clock, and CPU of this process (client, proxy and backend). */
  without: SessionCost;
  with: SessionCost;
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

  const cost = await compareSessionCost(plain.listeners[0]!.port, journaled.listeners[0]!.port, sessions, rounds);
  await plain.close();
  await journaled.close();
  await backend.close();
  const files = readdirSync(dir).length;
  rmSync(dir, { recursive: true, force: true });
  return { sessions, rounds, files, without: cost.base, with: cost.variant };
}
