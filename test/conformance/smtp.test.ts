/**
 * The conformance suite for SMTP against the reference nginx 1.22.1 and Postern with the same
 * `mail { }` block (SMTP x plaintext / `starttls on` / `starttls only` / `listen ... ssl`,
 * `smtp_auth plain login`, `xclient off`, `max_errors 5`), the harness auth server without
 * Auth-Wait on failures and a tiny in-process SMTP backend. nginx runs with `error_log ...
 * error` (at `info` it corrupts pipelined input after a rejected command, docs/conformance.md).
 * Both run at once from the same seed (random per run and printed; POSTERN_CONFORMANCE_SEED=N
 * replays one): nginx gives its recorded result with every run made, and Postern's report equals
 * nginx's per property (status, runs, counterexample classes, known quirks; setup.ts).
 */
import net from 'node:net';
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
  startNginx,
  type AuthServer,
  type CertFiles,
  type NginxHandle,
} from '../e2e/harness/index.js';
import { expectEveryRun, expectSameAsNginx, fileSeed, PROPERTY_BUDGET_MS, recorded, REPORT_TIMEOUT_MS, statuses, USERS } from './setup.js';

requireBinaries(['nginx', 'openssl']);

const RUNS = 10;
const SEED = fileSeed('test/conformance/smtp.test.ts');

interface SmtpMode {
  name: string;
  tls: ConformanceOptions['tls'];
  starttlsMode?: 'on' | 'only';
}

const MODES: SmtpMode[] = [
  { name: 'smtp plaintext', tls: 'none' },
  { name: 'smtp starttls on', tls: 'starttls', starttlsMode: 'on' },
  { name: 'smtp starttls only', tls: 'starttls', starttlsMode: 'only' },
  { name: 'smtp implicit TLS', tls: 'implicit' },
];

/** A minimal SMTP backend: 220 greeting, 250 to EHLO/HELO/MAIL/RCPT/RSET/NOOP, 235 to AUTH, 221 + close to QUIT. */
async function startFakeSmtp(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.write('220 backend.test ESMTP\r\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const lineText = buf.slice(0, i).replace(/\r$/, '');
        buf = buf.slice(i + 1);
        const verb = lineText.split(' ')[0]!.toUpperCase();
        if (verb === 'QUIT') {
          s.end('221 2.0.0 Bye\r\n');
          return;
        }
        if (['EHLO', 'HELO', 'MAIL', 'RCPT', 'RSET', 'NOOP'].includes(verb)) s.write('250 2.0.0 OK\r\n');
        else if (verb === 'AUTH') s.write('235 2.7.0 Authentication successful\r\n');
        else s.write('502 5.5.2 Error: command not recognized\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface SmtpFixture {
  auth: AuthServer;
  cert: CertFiles;
  backend: { port: number; close(): Promise<void> };
  ports: number[];
  mailBlock: string;
  close(): Promise<void>;
}

async function startSmtpFixture(): Promise<SmtpFixture> {
  const cert = await generateCert();
  const backend = await startFakeSmtp();
  const policy = defaultAuthHandler({
    users: Object.fromEntries(USERS.map((u) => [u.user, u.password])),
    backends: { smtp: backend.port },
    host: '127.0.0.1',
  });
  const auth = await startAuthServer({
    handler: async (req) => {
      const r = await policy(req);
      if (r.headers) delete r.headers['Auth-Wait'];
      return r;
    },
  });
  const ports = await freePorts(MODES.length);
  const servers = MODES.map((m, i) => {
    const listen = m.tls === 'implicit' ? `listen 127.0.0.1:${ports[i]!} ssl;` : `listen 127.0.0.1:${ports[i]!};`;
    const starttls = m.starttlsMode ? `starttls ${m.starttlsMode};` : '';
    return `    server { ${listen} protocol smtp; ${starttls} max_errors 5; smtp_auth plain login; xclient off; }`;
  });
  const mailBlock = `mail {
    server_name mx.test;
    auth_http ${auth.url}/auth;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
${servers.join('\n')}
}`;
  return {
    auth,
    cert,
    backend,
    ports,
    mailBlock,
    async close() {
      const r = await Promise.allSettled([auth.close(), backend.close()]);
      await removeDir(cert.dir);
      for (const x of r) if (x.status === 'rejected') throw x.reason;
    },
  };
}

function optionsFor(f: SmtpFixture, m: SmtpMode, port: number): ConformanceOptions {
  return {
    target: { host: '127.0.0.1', port },
    protocol: 'smtp',
    tls: m.tls,
    ...(m.starttlsMode ? { starttlsMode: m.starttlsMode } : {}),
    users: USERS,
    runs: RUNS,
    seed: SEED,
    maxErrors: 5,
    propertyBudgetMs: PROPERTY_BUDGET_MS,
    authProbe: () => f.auth.requests.length,
  };
}

describe('conformance: SMTP, nginx 1.22.1 vs Postern', () => {
  let fxN: SmtpFixture | undefined;
  let fxP: SmtpFixture | undefined;
  let ng: NginxHandle | undefined;
  let proxy: RunningProxy | undefined;

  beforeAll(async () => {
    [fxN, fxP] = await Promise.all([startSmtpFixture(), startSmtpFixture()]);
    ng = await startNginx({ mailBlock: fxN.mailBlock, logLevel: 'error' });
    proxy = await startProxy(parseConfigText(fxP.mailBlock, 'conformance-smtp.conf'), { logger: silentLogger() });
  });

  afterAll(async () => {
    const r = await Promise.allSettled([ng?.close(), proxy?.close(), fxN?.close(), fxP?.close()]);
    for (const x of r) if (x.status === 'rejected') throw x.reason;
  });

  MODES.forEach((m, i) => {
    it(`${m.name}: nginx's recorded result, and Postern's report equals it`, { timeout: REPORT_TIMEOUT_MS }, async () => {
      const [rn, rp] = await Promise.all([
        runConformance(optionsFor(fxN!, m, fxN!.ports[i]!)),
        runConformance(optionsFor(fxP!, m, fxP!.ports[i]!)),
      ]);
      const tn = formatReport(rn);
      const tp = formatReport(rp);
      console.log(`--- nginx ---\n${tn}\n--- Postern ---\n${tp}`);
      // The recorded result (docs/conformance.md): every property passes, no SMTP quirk is known.
      expect(statuses(rn)).toEqual(recorded(m));
      expectEveryRun(rn, RUNS);
      expect(rn.results.filter((r) => r.quirks)).toEqual([]);
      expectSameAsNginx(rn, rp);
    });
  });
});
