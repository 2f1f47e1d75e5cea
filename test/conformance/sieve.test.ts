/**
 * The conformance suite on ManageSieve (`protocol sieve;`, a Postern extension; RFC 5804): nginx
 * has no ManageSieve, so Postern is held to the RFC grammar and the proxy properties on its own,
 * in front of a real Dovecot ManageSieve (Pigeonhole) and an auth server, one server per mode
 * (plaintext, `starttls on`, `starttls only`, implicit TLS), `max_errors 5`. After login the
 * replies are Dovecot's own, relayed: the grammar reads a real ManageSieve server's lines there.
 *
 * The seed is random per run and printed; POSTERN_CONFORMANCE_SEED=N replays one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport, runConformance, type ConformanceOptions } from '../../src/conformance/index.js';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  defaultAuthHandler,
  freePorts,
  generateCert,
  removeDir,
  requireBinaries,
  startAuthServer,
  startDovecot,
  type AuthServer,
  type CertFiles,
  type DovecotHandle,
} from '../e2e/harness/index.js';
import { expectEveryRun, fileSeed, PROPERTY_BUDGET_MS, recorded, REPORT_TIMEOUT_MS, RUNS, statuses, USERS } from './setup.js';

requireBinaries(['dovecot', 'openssl']);

const SEED = fileSeed('test/conformance/sieve.test.ts');

const MODES = [
  { name: 'sieve plaintext', tls: 'none' as const },
  { name: 'sieve starttls on', tls: 'starttls' as const, starttlsMode: 'on' as const },
  { name: 'sieve starttls only', tls: 'starttls' as const, starttlsMode: 'only' as const },
  { name: 'sieve implicit TLS', tls: 'implicit' as const },
];

describe('conformance: ManageSieve through Postern (RFC 5804 grammar, proxy properties)', () => {
  let dc: DovecotHandle | undefined;
  let auth: AuthServer | undefined;
  let cert: CertFiles | undefined;
  let proxy: RunningProxy | undefined;
  let ports: number[] = [];

  beforeAll(async () => {
    cert = await generateCert();
    dc = await startDovecot({ users: USERS, managesieve: true, ssl: true });
    const policy = defaultAuthHandler({ users: Object.fromEntries(USERS.map((u) => [u.user, u.password])), backends: { sieve: dc.sievePort! }, host: '127.0.0.1' });
    // Failures without Auth-Wait: the proxy answers and closes at once instead of waiting 1 s.
    auth = await startAuthServer({
      handler: async (req) => {
        const r = await policy(req);
        if (r.headers) delete r.headers['Auth-Wait'];
        return r;
      },
    });
    ports = await freePorts(MODES.length);
    const servers = MODES.map((m, i) => {
      const listen = m.tls === 'implicit' ? `listen 127.0.0.1:${ports[i]} ssl;` : `listen 127.0.0.1:${ports[i]};`;
      return `server { ${listen} protocol sieve; ${m.starttlsMode ? `starttls ${m.starttlsMode};` : ''} max_errors 5; postern_sieve_auth plain login cram-md5; }`;
    });
    const block = `mail {\n auth_http ${auth.url}/auth;\n ssl_certificate ${cert.certPath};\n ssl_certificate_key ${cert.keyPath};\n ${servers.join('\n ')}\n}`;
    proxy = await startProxy(parseConfigText(block, 'sieve-conformance.conf'), { logger: silentLogger() });
  }, 60_000);

  afterAll(async () => {
    const r = await Promise.allSettled([proxy?.close(), auth?.close(), dc?.close()]);
    if (cert) await removeDir(cert.dir);
    for (const x of r) if (x.status === 'rejected') throw x.reason;
  });

  const options = (port: number, mode: (typeof MODES)[number]): ConformanceOptions => ({
    target: { host: '127.0.0.1', port },
    protocol: 'sieve',
    tls: mode.tls,
    ...(mode.starttlsMode ? { starttlsMode: mode.starttlsMode } : {}),
    users: USERS,
    runs: RUNS,
    seed: SEED,
    maxErrors: 5,
    propertyBudgetMs: PROPERTY_BUDGET_MS,
  });

  MODES.forEach((mode, i) => {
    it(`${mode.name}: every property holds, with all its runs`, { timeout: REPORT_TIMEOUT_MS }, async () => {
      const report = await runConformance({
        ...options(ports[i]!, mode),
        authProbe: () => auth!.requests.length,
        // The login's reply is Dovecot's own, relayed.
        backendLoginReply: /^OK "Logged in\."$/,
      });
      console.log(`--- Postern, ${mode.name} ---\n${formatReport(report)}`);
      expect(statuses(report)).toEqual(recorded(mode));
      expectEveryRun(report, RUNS);
    });
  });
});
