/**
 * The conformance suite against Postern itself, with the same `mail { }` block, Dovecot and
 * auth policy as the nginx run (test/conformance/nginx.test.ts), so the two reports compare
 * line by line. The expected results are Postern's recorded ones (docs/conformance.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatReport, runConformance, type PropertyId } from '../../src/conformance/index.js';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { requireBinaries } from '../e2e/harness/index.js';
import { MODES, optionsFor, startFixture, statuses, type Fixture, type Mode } from './setup.js';

requireBinaries(['dovecot', 'openssl']);

/** Postern's recorded result per mode (seed 2024, 15 runs per property). */
function expected(m: Mode): Record<PropertyId, string> {
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

describe('conformance: Postern', () => {
  let fx: Fixture | undefined;
  let proxy: RunningProxy | undefined;

  beforeAll(async () => {
    fx = await startFixture();
    proxy = await startProxy(parseConfigText(fx.mailBlock, 'conformance.conf'), { logger: silentLogger() });
  });

  afterAll(async () => {
    const r = await Promise.allSettled([proxy?.close(), fx?.close()]);
    for (const x of r) if (x.status === 'rejected') throw x.reason;
  });

  MODES.forEach((m, i) => {
    it(`${m.name}: the recorded result`, { timeout: 120_000 }, async () => {
      const report = await runConformance({ ...optionsFor(fx!, m, i), backendLoginReply: m.protocol === 'pop3' ? /^\+OK Logged in\.$/ : /^\S+ OK \[CAPABILITY .*\] Logged in$/ });
      const text = formatReport(report);
      console.log(text);
      expect(statuses(report)).toEqual(expected(m));
      expect(text.split('\n').at(-1)).toBe(`${report.passed} passed, ${report.failed} failed`);
    });
  });
});
