/**
 * Differential end-to-end test: the same `mail { }` block (test/e2e/scenarios/mail-block.ts)
 * runs in the reference nginx 1.22.1 and in Postern; every scenario script
 * (test/e2e/scenarios/{imap,pop3}.ts) is played against both at the same time and the
 * transcripts — client lines, server lines, timing buckets, closes, and the raw auth_http
 * requests each proxy sent — must be equal after normalisation (salts, dates, Dovecot's
 * variable bits). A difference fails the scenario with the line diff. So does a transcript
 * with an error line (`!: timeout`, `!: still open`, ...) on both sides alike: the scenario
 * did not go as written, and two proxies failing the same way prove nothing (as in
 * smtp-differential.test.ts). Expected failures are part of the script
 * (`{ starttls: true, fails: true }`).
 *
 * Each side has its own Dovecot (same users and messages) and its own auth server (same
 * policy, test/e2e/scenarios/auth.ts), so mailbox state (\Recent, \Seen) evolves the same way
 * on both sides and auth requests are attributed without ambiguity.
 *
 * Intended differences kept out of the scenarios (documented by the lead):
 * - nginx 1.22 rejects an IMAP backend LOGIN reply preceded by an untagged line, Postern
 *   accepts it like nginx >= 1.27.3: Dovecot never sends such a line (its capabilities are
 *   in the tagged OK), so no scenario hits it.
 * - default `ssl_protocols` (1.22: TLSv1 TLSv1.1 TLSv1.2; Postern: TLSv1.2 TLSv1.3): the
 *   shared block sets `ssl_protocols TLSv1.2;`, so Auth-SSL-Protocol compares equal.
 * - POP3 pipelining beyond the 128-byte buffer (§3.1 side effect; "need not copy"): no
 *   scenario pipelines more than one buffer's worth before authentication.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  diffLines,
  formatDiff,
  freePort,
  freePorts,
  generateCert,
  removeDir,
  requireBinaries,
  startAuthServer,
  startDovecot,
  startNginx,
  type AuthServer,
  type CertFiles,
  type DovecotHandle,
  type NginxHandle,
  type NormalizeOptions,
} from './harness/index.js';
import { scenarioAuthHandler, USERS } from './scenarios/auth.js';
import { imapScenarios } from './scenarios/imap.js';
import { fillMailBlock, MAIL_BLOCK_TEMPLATE, portsFrom } from './scenarios/mail-block.js';
import { pop3Scenarios } from './scenarios/pop3.js';
import { authLines, runScenario, scenarioErrors, SERVER_KEYS, type Scenario, type ServerKey } from './scenarios/runner.js';

requireBinaries(['nginx', 'dovecot', 'openssl']);

interface Side {
  name: 'nginx' | 'postern';
  ports: Record<ServerKey, number>;
  auth: AuthServer;
  dc: DovecotHandle;
}

const NORMALIZE: NormalizeOptions = {
  // Mailbox state (\Recent, \Seen) is Dovecot's, not the proxy's: keep one failed login from
  // cascading into every later SELECT.
  extra: [
    [/^S: \* \d+ RECENT$/, 'S: * <N> RECENT'],
    [/^S: \* OK \[UNSEEN \d+\]/, 'S: * OK [UNSEEN <N>]'],
  ],
};

/** Transcripts for the failure message: very long lines cut (the comparison uses them whole). */
const shorten = (t: string[]): string => t.map((l) => (l.length > 160 ? `${l.slice(0, 150)}...(${l.length} chars)` : l)).join('\n');

const protocolOf = (sc: Scenario): 'imap' | 'pop3' => (sc.server.startsWith('imap') ? 'imap' : 'pop3');

/** The client transcript and the auth requests sent meanwhile (compared separately). */
async function play(side: Side, sc: Scenario): Promise<{ client: string[]; auth: string[] }> {
  const start = side.auth.requests.length;
  const client = await runScenario(sc, side.ports[sc.server]);
  // Auth requests have all arrived by the time the client saw the answer to them. The IMAP
  // and POP3 lanes run at the same time: each takes the requests of its own protocol.
  const mine = side.auth.requests.slice(start).filter((r) => r.headers['auth-protocol'] === protocolOf(sc));
  return { client, auth: authLines(mine) };
}

/**
 * Scenarios run in two lanes (IMAP, POP3) side by side to keep the file's runtime modest;
 * within a lane they run one at a time, in order, so mailbox state evolves identically on
 * both sides.
 */
const lanes = new Map<string, Promise<void>>();
function inLane<T>(lane: string, fn: () => Promise<T>): Promise<T> {
  const run = (lanes.get(lane) ?? Promise.resolve()).then(fn);
  lanes.set(
    lane,
    run.then(
      () => undefined,
      () => undefined,
    ),
  );
  return run;
}

/** IMAP and POP3 scenarios interleaved, so that both lanes have work from the start. */
function interleave(a: Scenario[], b: Scenario[]): Scenario[] {
  const out: Scenario[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i]) out.push(a[i]!);
    if (b[i]) out.push(b[i]!);
  }
  return out;
}

describe('differential: nginx 1.22.1 and Postern with the same mail block', () => {
  let cert: CertFiles | undefined;
  let ng: NginxHandle | undefined;
  let proxy: RunningProxy | undefined;
  const sides: Partial<Record<Side['name'], Side>> = {};
  const daemons: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    cert = await generateCert();
    const deadPort = await freePort(); // handed out, never listened on
    const [dcN, dcP] = await Promise.all([startDovecot({ users: USERS }), startDovecot({ users: USERS })]);
    daemons.push(dcN, dcP);
    const mkAuth = (dc: DovecotHandle) =>
      startAuthServer({ handler: scenarioAuthHandler({ backends: { imap: dc.imapPort, pop3: dc.pop3Port }, deadPort }) });
    const [authN, authP] = await Promise.all([mkAuth(dcN), mkAuth(dcP)]);
    daemons.push(authN, authP);
    const ports = await freePorts(SERVER_KEYS.length * 2);
    const n: Side = { name: 'nginx', ports: portsFrom(ports.slice(0, SERVER_KEYS.length)), auth: authN, dc: dcN };
    const p: Side = { name: 'postern', ports: portsFrom(ports.slice(SERVER_KEYS.length)), auth: authP, dc: dcP };
    const block = (s: Side) => fillMailBlock(MAIL_BLOCK_TEMPLATE, { auth: s.auth.url, cert: cert!.certPath, key: cert!.keyPath, ports: s.ports });
    ng = await startNginx({ mailBlock: block(n) });
    proxy = await startProxy(parseConfigText(block(p), 'differential.conf'), { logger: silentLogger() });
    sides.nginx = n;
    sides.postern = p;
  });

  afterAll(async () => {
    const results = await Promise.allSettled([proxy?.close(), ng?.close(), ...daemons.map((d) => d.close())]);
    if (cert) await removeDir(cert.dir);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  it('Postern listens on every port of the block', () => {
    expect(proxy!.listeners.map((l) => l.port).sort()).toEqual(Object.values(sides.postern!.ports).sort());
  });

  for (const sc of interleave(imapScenarios, pop3Scenarios)) {
    it.concurrent(sc.name, async () => {
      const n = sides.nginx!;
      const p = sides.postern!;
      const [tn, tp] = await inLane(protocolOf(sc), () => Promise.all([play(n, sc), play(p, sc)]));
      const clientDiffs = diffLines(tn.client, tp.client, NORMALIZE);
      const authDiffs = diffLines(tn.auth, tp.auth, NORMALIZE);
      if (clientDiffs.length > 0 || authDiffs.length > 0) {
        expect.fail(
          `Postern differs from nginx in "${sc.name}"\n` +
            (clientDiffs.length > 0 ? `=== client transcript diff ===\n${formatDiff(clientDiffs)}\n` : '') +
            (authDiffs.length > 0 ? `=== auth request diff ===\n${formatDiff(authDiffs)}\n` : '') +
            `--- nginx transcript ---\n${shorten([...tn.client, ...tn.auth])}\n` +
            `--- postern transcript ---\n${shorten([...tp.client, ...tp.auth])}`,
        );
      }
      // Equal is not enough: a transcript that went wrong on both sides is a broken scenario.
      expect(scenarioErrors(tn.client), `"${sc.name}" did not go as scripted (on both sides):\n${shorten(tn.client)}`).toEqual([]);
    });
  }
});
