/**
 * The conformance suite against Postern itself, with the same `mail { }` block, Dovecot and
 * auth policy as the nginx run (test/conformance/nginx.test.ts), so the two reports compare
 * line by line. Both must give the recorded result (setup.ts, docs/conformance.md).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { requireBinaries } from '../e2e/harness/index.js';
import { expectRecordedResult, MODES, startFixture, type Fixture } from './setup.js';

requireBinaries(['dovecot', 'openssl']);

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
    it(`${m.name}: the recorded result`, { timeout: 120_000 }, () => expectRecordedResult(fx!, m, i));
  });
});
