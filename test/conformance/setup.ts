/**
 * Shared fixture of the conformance runs against nginx and Postern: Dovecot, an auth server
 * that fails without Auth-Wait (so generated failures cost no waiting: reply + close), and
 * one `mail { }` block with a server per mode (POP3/IMAP x none / starttls on / starttls only
 * / implicit TLS), `max_errors 5`. Also the seed of a test run and the comparison of two
 * reports (nginx's and Postern's) by status, run count, counterexample classes and known quirks.
 */
import {
  defaultAuthHandler,
  freePorts,
  generateCert,
  removeDir,
  startAuthServer,
  startDovecot,
  type AuthServer,
  type CertFiles,
  type DovecotHandle,
} from '../e2e/harness/index.js';
import { expect } from 'vitest';
import {
  conformanceSeed,
  KNOWN_QUIRKS,
  SEED_ENV,
  type ConformanceOptions,
  type ConformanceReport,
  type PropertyId,
  type Protocol,
} from '../../src/conformance/index.js';

export const USERS = [
  { user: 'alice', password: 'secret' },
  { user: 'test@example.com', password: 'pa ss%word' },
];

export interface Mode {
  name: string;
  protocol: 'pop3' | 'imap';
  tls: ConformanceOptions['tls'];
  starttlsMode?: 'on' | 'only';
}

export const MODES: Mode[] = (['pop3', 'imap'] as const).flatMap((protocol) => [
  { name: `${protocol} plaintext`, protocol, tls: 'none' as const },
  { name: `${protocol} starttls on`, protocol, tls: 'starttls' as const, starttlsMode: 'on' as const },
  { name: `${protocol} starttls only`, protocol, tls: 'starttls' as const, starttlsMode: 'only' as const },
  { name: `${protocol} implicit TLS`, protocol, tls: 'implicit' as const },
]);

/** Runs per property in the nginx / Postern comparisons. */
export const RUNS = 15;

/**
 * The seed of this test file's run: random, unless POSTERN_CONFORMANCE_SEED fixes it (CI
 * reproduction). Printed, so that a failure can be replayed with it.
 */
export function fileSeed(file: string): number {
  const seed = conformanceSeed();
  console.log(`${file}: conformance seed ${seed} (replay: ${SEED_ENV}=${seed} npx vitest run ${file})`);
  return seed;
}

/** Time budget per property in the tests: a property it stops is `incomplete`, which fails them. */
export const PROPERTY_BUDGET_MS = 30_000;
/** Test timeout for one report: every property may use its whole budget. */
export const REPORT_TIMEOUT_MS = 8 * PROPERTY_BUDGET_MS + 60_000;

export interface Fixture {
  dc: DovecotHandle;
  auth: AuthServer;
  cert: CertFiles;
  ports: number[];
  mailBlock: string;
  close(): Promise<void>;
}

function serverBlock(m: Mode, port: number): string {
  const listen = m.tls === 'implicit' ? `listen 127.0.0.1:${port} ssl;` : `listen 127.0.0.1:${port};`;
  const starttls = m.starttlsMode ? `starttls ${m.starttlsMode};` : '';
  const auth = m.protocol === 'pop3' ? 'pop3_auth plain apop cram-md5;' : 'imap_auth plain login cram-md5;';
  return `    server { ${listen} protocol ${m.protocol}; ${starttls} max_errors 5; ${auth} }`;
}

export async function startFixture(): Promise<Fixture> {
  const cert = await generateCert();
  const dc = await startDovecot({ users: USERS });
  const policy = defaultAuthHandler({
    users: Object.fromEntries(USERS.map((u) => [u.user, u.password])),
    backends: { imap: dc.imapPort, pop3: dc.pop3Port },
    host: '127.0.0.1',
  });
  // Failures without Auth-Wait: the proxy answers and closes at once instead of waiting 1 s.
  const auth = await startAuthServer({
    handler: async (req) => {
      const r = await policy(req);
      if (r.headers) delete r.headers['Auth-Wait'];
      return r;
    },
  });
  const ports = await freePorts(MODES.length);
  const mailBlock = `mail {
    server_name mx.test;
    auth_http ${auth.url}/auth;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
${MODES.map((m, i) => serverBlock(m, ports[i]!)).join('\n')}
}`;
  return {
    dc,
    auth,
    cert,
    ports,
    mailBlock,
    async close() {
      const r = await Promise.allSettled([auth.close(), dc.close()]);
      await removeDir(cert.dir);
      for (const x of r) if (x.status === 'rejected') throw x.reason;
    },
  };
}

export function optionsFor(f: Fixture, m: Mode, i: number, seed: number): ConformanceOptions {
  return {
    target: { host: '127.0.0.1', port: f.ports[i]! },
    protocol: m.protocol,
    tls: m.tls,
    ...(m.starttlsMode ? { starttlsMode: m.starttlsMode } : {}),
    users: USERS,
    runs: RUNS,
    seed,
    maxErrors: 5,
    propertyBudgetMs: PROPERTY_BUDGET_MS,
    authProbe: () => f.auth.requests.length,
    backendLoginReply: m.protocol === 'pop3' ? /^\+OK Logged in\.$/ : /^\S+ OK \[CAPABILITY .*\] Logged in$/,
  };
}

export function statuses(report: ConformanceReport): Partial<Record<PropertyId, string>> {
  return Object.fromEntries(report.results.map((r) => [r.id, r.status]));
}

/**
 * nginx 1.22.1's recorded result for a mode (docs/conformance.md): every property it can be held
 * to passes. For IMAP, reply-grammar passes only because its two documented quirks are known
 * (` BAD invalid command` with an empty tag, the unstarred `BAD invalid command` after a bad
 * AUTHENTICATE LOGIN user name): see `allowedQuirks`.
 */
export function recorded(m: { tls: ConformanceOptions['tls']; starttlsMode?: 'on' | 'only' }): Record<PropertyId, string> {
  return {
    'one-reply-per-command': 'passed',
    'reply-grammar': 'passed',
    'no-reply-across-tls': m.tls === 'starttls' ? 'passed' : 'skipped',
    'starttls-only-refuses-auth': m.starttlsMode === 'only' ? 'passed' : 'skipped',
    'split-invariance': 'passed',
    'max-errors-closes': 'passed',
    'quit-closes': 'passed',
    'login-reaches-backend': 'passed',
  };
}

/** The known quirks a protocol may show (which ones a run sees depends on what its seed generates). */
export const allowedQuirks = (protocol: Protocol): string[] => KNOWN_QUIRKS.filter((q) => q.protocol === protocol).map((q) => q.id);

/** Per property: status, runs, counterexample classes (failures), known quirks seen and how often. */
export function fingerprint(report: ConformanceReport): Record<string, { status: string; runs: number; classes?: string[]; quirks?: Record<string, number> }> {
  return Object.fromEntries(
    report.results.map((r) => [
      r.id,
      {
        status: r.status,
        runs: r.runs,
        ...(r.failure ? { classes: r.failure.classes } : {}),
        ...(r.quirks ? { quirks: Object.fromEntries(r.quirks.map((q) => [q.id, q.runs])) } : {}),
      },
    ]),
  );
}

/**
 * Every property that was not skipped made all its runs: none was stopped by its time budget
 * (that would be `incomplete`) and a pass is never a pass of fewer runs than asked.
 */
export function expectEveryRun(report: ConformanceReport, runs: number): void {
  for (const r of report.results) {
    if (r.status === 'skipped' || r.status === 'failed') continue;
    expect(`${r.id}: ${r.status}, ${r.runs} runs`).toBe(`${r.id}: passed, ${runs} runs`);
  }
  expect(report.incomplete).toBe(0);
}

/**
 * Postern's report against nginx's, from the same seed (so from the same generated scripts):
 * the same status per property, the same counterexample classes where a property fails (a new
 * Postern bug cannot hide behind "failed on both") and the same known quirks, seen in the same
 * number of runs.
 */
export function expectSameAsNginx(nginx: ConformanceReport, postern: ConformanceReport): void {
  expect(nginx.seed).toBe(postern.seed);
  expect(fingerprint(postern)).toEqual(fingerprint(nginx));
}
