/**
 * The conformance suite against the reference nginx 1.22.1 (Debian, ngx_mail_module) with
 * Dovecot behind it, one server per mode. The expected results are the ones recorded in
 * docs/conformance.md: nginx passes every property except "reply-grammar" for IMAP (its
 * ` BAD invalid command` reply with an empty tag and the untagged-unstarred `BAD invalid
 * command` after a bad AUTHENTICATE LOGIN user name, reference §5.1/§5.3 and quirks 6-7).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { requireBinaries, startNginx, type NginxHandle } from '../e2e/harness/index.js';
import { expectRecordedResult, MODES, startFixture, type Fixture } from './setup.js';

requireBinaries(['nginx', 'dovecot', 'openssl']);

describe('conformance: nginx 1.22.1', () => {
  let fx: Fixture | undefined;
  let ng: NginxHandle | undefined;

  beforeAll(async () => {
    fx = await startFixture();
    ng = await startNginx({ mailBlock: fx.mailBlock });
  });

  afterAll(async () => {
    const r = await Promise.allSettled([ng?.close(), fx?.close()]);
    for (const x of r) if (x.status === 'rejected') throw x.reason;
  });

  MODES.forEach((m, i) => {
    it(`${m.name}: the recorded result`, { timeout: 120_000 }, () => expectRecordedResult(fx!, m, i));
  });
});
