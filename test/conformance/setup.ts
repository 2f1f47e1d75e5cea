/**
 * Shared fixture of the conformance runs against nginx and Postern: Dovecot, an auth server
 * that fails without Auth-Wait (so generated failures cost no waiting: reply + close), and
 * one `mail { }` block with a server per mode (POP3/IMAP x none / starttls on / starttls only
 * / implicit TLS), `max_errors 5`.
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
import { formatReport, runConformance, type ConformanceOptions, type ConformanceReport, type PropertyId } from '../../src/conformance/index.js';

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

/** Runs per property and the fixed seed of the recorded results (docs/conformance.md). */
export const RUNS = 15;
export const SEED = 2024;

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

export function optionsFor(f: Fixture, m: Mode, i: number): ConformanceOptions {
  return {
    target: { host: '127.0.0.1', port: f.ports[i]! },
    protocol: m.protocol,
    tls: m.tls,
    ...(m.starttlsMode ? { starttlsMode: m.starttlsMode } : {}),
    users: USERS,
    runs: RUNS,
    seed: SEED,
    maxErrors: 5,
    authProbe: () => f.auth.requests.length,
  };
}

export function statuses(report: ConformanceReport): Partial<Record<PropertyId, string>> {
  return Object.fromEntries(report.results.map((r) => [r.id, r.status]));
}

/**
 * The recorded result per mode (seed 2024, 15 runs per property): the same for nginx 1.22.1 and
 * for Postern, which copies nginx's two IMAP reply quirks on purpose (docs/conformance.md):
 * ` BAD invalid command` with an empty tag, and the untagged-unstarred `BAD invalid command`
 * after a bad AUTHENTICATE LOGIN user name (reference §5.1/§5.3, quirks 6-7).
 */
function recorded(m: Mode): Record<PropertyId, string> {
  const starttls = m.tls === 'starttls';
  return {
    'one-reply-per-command': 'passed',
    'reply-grammar': m.protocol === 'imap' ? 'failed' : 'passed',
    'no-reply-across-tls': starttls ? 'passed' : 'skipped',
    'starttls-only-refuses-auth': m.starttlsMode === 'only' ? 'passed' : 'skipped',
    'split-invariance': 'passed',
    'max-errors-closes': 'passed',
    'quit-closes': 'passed',
    'login-reaches-backend': 'passed',
  };
}

/** Runs the suite against mode `m` (server `i` of the fixture) and checks the recorded result. */
export async function expectRecordedResult(f: Fixture, m: Mode, i: number): Promise<void> {
  const report = await runConformance({ ...optionsFor(f, m, i), backendLoginReply: m.protocol === 'pop3' ? /^\+OK Logged in\.$/ : /^\S+ OK \[CAPABILITY .*\] Logged in$/ });
  const text = formatReport(report);
  console.log(text);
  expect(statuses(report)).toEqual(recorded(m));
  expect(text.split('\n').at(-1)).toBe(`${report.passed} passed, ${report.failed} failed`);
  const grammar = report.results.find((r) => r.id === 'reply-grammar')!;
  if (grammar.status === 'failed') {
    // The documented deviations and nothing else.
    expect(grammar.failure!.message).toMatch(/reply line "BAD invalid command" is not|reply line " BAD invalid command" has an invalid tag ""/);
  }
}
