/**
 * The conformance suite for SMTP against the reference nginx 1.22.1 and Postern with the same
 * `mail { }` block (SMTP x plaintext / `starttls on` / `starttls only` / `listen ... ssl`,
 * `smtp_auth plain login`, `xclient off`, `max_errors 5`), the harness auth server without
 * Auth-Wait on failures and a tiny in-process SMTP backend. nginx runs with `error_log ...
 * error` (at `info` it corrupts pipelined input after a rejected command, docs/conformance.md).
 * Both run at once from the same seed (random per run and printed; POSTERN_CONFORMANCE_SEED=N
 * replays one): nginx gives its recorded result with every run made, and Postern's report equals
 * nginx's per property (status, runs, counterexample classes, known quirks; setup.ts).
 *
 * The mode servers take `smtp_client_buffer 8k`, so that every generated line fits (below,
 * MODE_CLIENT_BUFFER); lines longer than the default 4k buffer are played on a fifth server
 * with the default, in fixed deliveries (the last test).
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execute } from '../../src/conformance/execute.js';
import { assemble, command, dialectGen, line, type Delivered } from '../../src/conformance/generators/index.js';
import { formatReport, resolveContext, runConformance, type Command, type ConformanceOptions, type Script } from '../../src/conformance/index.js';
import { comparableTranscript, grammarProblems, replyAccounting } from '../../src/conformance/properties/checks.js';
import { genericScript } from '../../src/conformance/properties/scripts.js';
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

/**
 * The mode servers' `smtp_client_buffer` (nginx's default on an 8k-page machine): larger than
 * every line the generators draw, the longest being the "overlong" NOOP of at most 6,007 bytes
 * with its CRLF. With the default 4k of this machine those lines are over-long, and nginx's
 * answer to one raced with the client: nginx reads 4,096 bytes, answers `500 5.5.1 Invalid
 * command` and closes with the rest of the line unread, so its kernel resets the connection;
 * when the line went out in two writes and the first already filled the buffer, the client's
 * second write could meet that reset before the client had read the reply, and Node then
 * destroys the socket with the reply unread in its receive queue. Property 1 then failed on
 * nginx alone, "the server closed the connection without answering" the line (CI: seed
 * 165560987, a 4,706-byte NOOP in two writes; reproduced by replaying that seed with the CPU
 * busy, and every time with the client blocked between its two writes). Postern reads the whole
 * chunk before it closes, so it closes without a reset and passed. Since then the executor cuts
 * an over-long line only within its first 100 bytes and writes the rest at once
 * (OVERLONG_CUT_WINDOW in src/conformance/execute.ts, test/conformance/delivery.test.ts), so
 * that race is gone for every protocol; the mode servers keep 8k, and over-long lines are
 * played on OVERLONG_SERVER with the default buffer.
 */
const MODE_CLIENT_BUFFER = 8192;

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
  // One port per mode, then OVERLONG_SERVER's.
  const ports = await freePorts(MODES.length + 1);
  const servers = MODES.map((m, i) => {
    const listen = m.tls === 'implicit' ? `listen 127.0.0.1:${ports[i]!} ssl;` : `listen 127.0.0.1:${ports[i]!};`;
    const starttls = m.starttlsMode ? `starttls ${m.starttlsMode};` : '';
    return `    server { ${listen} protocol smtp; ${starttls} max_errors 5; smtp_auth plain login; xclient off; smtp_client_buffer ${MODE_CLIENT_BUFFER}; }`;
  });
  servers.push(`    server { listen 127.0.0.1:${ports[MODES.length]!}; protocol smtp; max_errors 5; smtp_auth plain login; xclient off; }`);
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

/** nginx's default `smtp_client_buffer` on this machine (one 4k page): OVERLONG_SERVER's. */
const DEFAULT_CLIENT_BUFFER = 4096;

/** A NOOP line of `bytes` bytes with its CRLF, labelled as the generator labels its overlong lines. */
function longNoop(bytes: number, kind: 'overlong' | 'noop'): Command {
  const text = `NOOP ${'x'.repeat(bytes - 7)}`;
  return command(kind, [line(text, { label: `NOOP xxxxxxxx... (${text.length} bytes)` })]);
}

/** A cut (the suite's fraction x 10000 of the line's bytes with its CRLF) at or before byte `at`. */
const cutAt = (at: number, bytes: number): number => Math.floor((at * 10000) / bytes);

const smtpGen = dialectGen('smtp');
const whole = (c: Command): Delivered => [c, { pipe: false, cuts: [] }];

interface OverlongCase {
  name: string;
  /** OVERLONG_SERVER (the default buffer), or the plaintext mode server (MODE_CLIENT_BUFFER). */
  server: 'default' | 'mode';
  script: Script;
  /** The comparable transcript (property 5's: answered lines, their replies, how it ended). */
  expected: string[];
  /** How the transcript shows the line's writes, when it was cut. */
  written?: string;
}

const GREETING = 'S: 220 mx.test ESMTP ready';
const TOO_LONG = ['S: 500 5.5.1 Invalid command', '*: closed by the server'];

/**
 * Over-long lines against the default buffer, in deliveries where the client writes nothing
 * after the server may have answered: the whole line in one write, or cut where the executor
 * cuts an over-long line (within its first 100 bytes, the rest in one write: the server cannot
 * answer before the last write). nginx then answers 500 and closes (with a reset: the rest of
 * the line is unread), and the client has read the reply first.
 */
const OVERLONG_CASES: OverlongCase[] = [
  {
    name: 'one byte over the buffer, in one write',
    server: 'default',
    script: assemble([whole(longNoop(DEFAULT_CLIENT_BUFFER + 1, 'overlong'))], smtpGen.finalize, 0, { kind: 'none' }, true),
    expected: [GREETING, 'C: NOOP xxxxxxxx... (4095 bytes)', ...TOO_LONG],
  },
  {
    name: 'the longest line the generator draws (6,007 bytes), in one write',
    server: 'default',
    script: assemble([whole(longNoop(6007, 'overlong'))], smtpGen.finalize, 0, { kind: 'none' }, true),
    expected: [GREETING, 'C: NOOP xxxxxxxx... (6005 bytes)', ...TOO_LONG],
  },
  {
    // The delivery that raced in CI drew a cut after the buffer was full; the executor now cuts
    // where the server cannot be full (95 bytes: 4,500 of 4,708 scaled into the first 100).
    name: "CI's 4,706-byte line drawn with a cut after 4,500 bytes: two writes, the first of 95 bytes",
    server: 'default',
    script: assemble([[longNoop(4708, 'overlong'), { pipe: false, cuts: [cutAt(4500, 4708)] }]], smtpGen.finalize, 0, { kind: 'none' }, true),
    expected: [GREETING, 'C: NOOP xxxxxxxx... (4706 bytes)', ...TOO_LONG],
    written: 'C: NOOP xxxxxxxx... (4706 bytes)    [2 chunk(s): 95 + 4613 bytes; over-long: cut only within the first 100 bytes]',
  },
  {
    name: 'after EHLO, in one write; a QUIT behind it is not answered',
    server: 'default',
    script: assemble(
      [whole(command('capability', [line('EHLO client.example')])), whole(longNoop(5000, 'overlong')), whole(smtpGen.quit())],
      smtpGen.finalize,
      0,
      { kind: 'none' },
      true,
    ),
    expected: [GREETING, 'C: EHLO client.example', 'S: 250-mx.test', 'S: 250 AUTH PLAIN LOGIN', 'C: NOOP xxxxxxxx... (4998 bytes)', ...TOO_LONG],
  },
  {
    name: 'a line that fills the buffer exactly (4,096 bytes with its CRLF) is a command',
    server: 'default',
    script: assemble([whole(longNoop(DEFAULT_CLIENT_BUFFER, 'noop')), whole(smtpGen.quit())], smtpGen.finalize, 0, { kind: 'none' }, true),
    expected: [GREETING, 'C: NOOP xxxxxxxx... (4094 bytes)', 'S: 250 2.0.0 OK', 'C: QUIT', 'S: 221 2.0.0 Bye', '*: closed by the server'],
  },
  {
    // The delivery that raced against the default buffer: the first write fills 4k. The script
    // calls the line a NOOP (on this server it is one), so the executor cuts it where drawn.
    name: 'on a mode server, the longest generated line in two writes, the first of 4,500 bytes, is a command',
    server: 'mode',
    script: assemble([[longNoop(6007, 'noop'), { pipe: false, cuts: [cutAt(4500, 6007)] }], whole(smtpGen.quit())], smtpGen.finalize, 0, { kind: 'none' }, true),
    expected: [GREETING, 'C: NOOP xxxxxxxx... (6005 bytes)', 'S: 250 2.0.0 OK', 'C: QUIT', 'S: 221 2.0.0 Bye', '*: closed by the server'],
  },
];

it(`every line the generic scripts draw fits the mode servers' smtp_client_buffer (${MODE_CLIENT_BUFFER} bytes)`, () => {
  const ctx = resolveContext({ target: { host: '127.0.0.1', port: 1 }, protocol: 'smtp', tls: 'none', users: USERS });
  const scripts = fc.sample(genericScript(ctx, smtpGen), { numRuns: 2000, seed: SEED });
  const lengths = scripts.flatMap((sc) => sc.commands.flatMap((c) => c.lines.map((l) => l.text.length + l.eol.length)));
  const overlong = scripts.flatMap((sc) => sc.commands.filter((c) => c.kind === 'overlong'));
  // The generator still draws its 4.1-6 kB lines (over the default buffer, under this one).
  expect(overlong.length).toBeGreaterThan(100);
  expect(Math.max(...lengths)).toBeGreaterThan(DEFAULT_CLIENT_BUFFER);
  expect(Math.max(...lengths)).toBeLessThanOrEqual(MODE_CLIENT_BUFFER);
});

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

  it('lines longer than the default smtp_client_buffer: 500 and a close, on nginx and Postern alike (property 1 and the grammar hold); the mode servers take 6 kB lines', async () => {
    const port = (f: SmtpFixture, c: OverlongCase) => f.ports[c.server === 'default' ? MODES.length : 0]!;
    for (const c of OVERLONG_CASES) {
      // Three times each: the outcome must not depend on timing.
      for (let round = 0; round < 3; round++) {
        const [tn, tp] = await Promise.all(
          [fxN!, fxP!].map(async (f, k) => {
            const ctx = resolveContext(optionsFor(f, MODES[0]!, port(f, c)));
            const exec = await execute(ctx, c.script);
            const who = `${k === 0 ? 'nginx' : 'Postern'}, ${c.name}, round ${round + 1}:\n${exec.transcript.join('\n')}`;
            expect(replyAccounting(ctx, c.script, exec), who).toEqual([]);
            expect(grammarProblems(ctx, exec).problems, who).toEqual([]);
            if (c.written) expect(exec.transcript, who).toContain(c.written);
            return comparableTranscript(ctx, c.script, exec);
          }),
        );
        expect(tn, `nginx, ${c.name}`).toEqual(c.expected);
        expect(tp, `Postern, ${c.name}`).toEqual(c.expected);
      }
    }
  });
});
