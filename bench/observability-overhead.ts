/**
 * Cost of issue 14's observability on a full POP3 login session over loopback (greeting, USER,
 * PASS, auth service, backend login, relay, QUIT): the same loop against a proxy with the
 * defaults (an `error_log` at `error`: nothing per session) and one with `error_log FILE info`,
 * `postern_access_log` and the metrics counting, alternating rounds. Used by `npm run bench`
 * (phase `observability`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthOutcome } from '../machines/types.js';
import { createLogger } from '../src/log.js';
import { Secret } from '../src/secret.js';
import { startProxy } from '../src/server.js';
import { fakeBackend, serverConfig } from '../test/integration/fixtures.js';
import { compareSessionCost, type SessionCost } from './session-rounds.js';

export interface ObservabilityOverhead {
  sessions: number;
  rounds: number;
  /** Lines the observed proxy wrote: error_log and access log (a check that it logged). */
  errorLogLines: number;
  accessLogLines: number;
  /** Medians over the rounds, µs per session: wall clock, and CPU of this process (client, proxy and backend). */
  defaults: SessionCost;
  observed: SessionCost;
}

export async function measureObservabilityOverhead(sessions: number, rounds: number): Promise<ObservabilityOverhead> {
  const backend = await fakeBackend('pop3');
  const auth = {
    request: async (): Promise<AuthOutcome> => ({ status: 'ok', server: '127.0.0.1', port: backend.port, user: 'test@example.com', password: new Secret('secret') }),
  };
  const dir = mkdtempSync(join(tmpdir(), 'postern-observability-'));
  const errorLog = join(dir, 'error.log');
  const accessLog = join(dir, 'access.log');
  const base = { file: 'bench', notices: [], workerProcesses: 1, workerConnections: 512 };
  const defaults = await startProxy(
    { ...base, servers: [serverConfig({ protocol: 'pop3', errorLogs: [{ target: join(dir, 'quiet.log'), level: 'error' }] })] },
    { logger: createLogger([{ target: join(dir, 'quiet.log'), level: 'error' }]), authFor: () => auth },
  );
  const observed = await startProxy(
    {
      ...base,
      metricsListen: { host: '127.0.0.1', port: 0, text: '127.0.0.1:0' },
      servers: [serverConfig({ protocol: 'pop3', errorLogs: [{ target: errorLog, level: 'info' }], accessLog: { path: accessLog, format: 'text' } })],
    },
    { logger: createLogger([{ target: errorLog, level: 'info' }]), authFor: () => auth },
  );

  const cost = await compareSessionCost(defaults.listeners[0]!.port, observed.listeners[0]!.port, sessions, rounds);
  await defaults.close();
  await observed.close();
  await backend.close();
  // The files are written asynchronously: let them settle before counting.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const count = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').length;
  const result = { errorLogLines: count(errorLog), accessLogLines: count(accessLog) };
  rmSync(dir, { recursive: true, force: true });
  return { sessions, rounds, ...result, defaults: cost.base, observed: cost.variant };
}
