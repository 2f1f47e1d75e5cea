/**
 * The conformance suite against the reference nginx 1.22.1 (Debian, ngx_mail_module) and
 * against Postern, with the same `mail { }` block (a server per mode: POP3/IMAP x plaintext /
 * `starttls on` / `starttls only` / `listen ... ssl`), each in front of its own Dovecot and its
 * own auth server (setup.ts). Per mode both run at once from the same seed, so from the same
 * generated scripts:
 *
 * - nginx gives its recorded result (docs/conformance.md): every property it can be held to
 *   passes with all its runs; for IMAP, reply-grammar sees only its two documented quirks;
 * - Postern's report equals nginx's property by property: status, runs, counterexample classes
 *   of any failure, known quirks and the number of runs they were seen in.
 *
 * The seed is random per run and printed; POSTERN_CONFORMANCE_SEED=N replays one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport, runConformance } from '../../src/conformance/index.js';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { requireBinaries, startNginx, type NginxHandle } from '../e2e/harness/index.js';
import {
  allowedQuirks,
  expectEveryRun,
  expectSameAsNginx,
  fileSeed,
  MODES,
  optionsFor,
  recorded,
  REPORT_TIMEOUT_MS,
  RUNS,
  startFixture,
  statuses,
  type Fixture,
} from './setup.js';

requireBinaries(['nginx', 'dovecot', 'openssl']);

const SEED = fileSeed('test/conformance/pop3-imap.test.ts');

describe('conformance: POP3 and IMAP, nginx 1.22.1 and Postern from the same seed', () => {
  let fxN: Fixture | undefined;
  let fxP: Fixture | undefined;
  let ng: NginxHandle | undefined;
  let proxy: RunningProxy | undefined;

  beforeAll(async () => {
    [fxN, fxP] = await Promise.all([startFixture(), startFixture()]);
    ng = await startNginx({ mailBlock: fxN.mailBlock });
    proxy = await startProxy(parseConfigText(fxP.mailBlock, 'conformance.conf'), { logger: silentLogger() });
  });

  afterAll(async () => {
    const r = await Promise.allSettled([ng?.close(), proxy?.close(), fxN?.close(), fxP?.close()]);
    for (const x of r) if (x.status === 'rejected') throw x.reason;
  });

  MODES.forEach((m, i) => {
    it(`${m.name}: nginx's recorded result, and Postern's report equals it`, { timeout: REPORT_TIMEOUT_MS }, async () => {
      const [rn, rp] = await Promise.all([runConformance(optionsFor(fxN!, m, i, SEED)), runConformance(optionsFor(fxP!, m, i, SEED))]);
      console.log(`--- nginx 1.22.1 ---\n${formatReport(rn)}\n--- Postern ---\n${formatReport(rp)}`);
      expect(statuses(rn)).toEqual(recorded(m));
      expectEveryRun(rn, RUNS);
      const quirks = rn.results.flatMap((r) => (r.quirks ?? []).map((q) => `${r.id}: ${q.id}`));
      for (const q of quirks) expect(allowedQuirks(m.protocol).map((id) => `reply-grammar: ${id}`)).toContain(q);
      expectSameAsNginx(rn, rp);
    });
  });
});
