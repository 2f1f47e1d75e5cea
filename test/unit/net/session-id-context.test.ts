import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sessionIdContext } from '../../../src/net/session-id-context.js';
import { testCertificate } from '../../integration/fixtures.js';

describe('TLS session id context (nginx: "MAIL", certificates, client CAs)', () => {
  const cert = readFileSync(testCertificate().certificate);

  it('fits OpenSSL\'s 32-byte limit and is stable for the same settings', () => {
    const context = sessionIdContext([cert], [], 'off');
    expect(context).toMatch(/^[0-9a-f]{32}$/);
    expect(sessionIdContext([cert], [], 'off')).toBe(context);
  });

  it('differs when the certificate, the client CAs or the verify mode differ', () => {
    const other = Buffer.from(cert.toString('latin1').replace('A', 'B'), 'latin1');
    const base = sessionIdContext([cert], [cert], 'off');
    expect(sessionIdContext([other], [cert], 'off')).not.toBe(base);
    expect(sessionIdContext([cert], [cert], 'on')).not.toBe(base);
    expect(sessionIdContext([cert], [cert], 'on')).not.toBe(sessionIdContext([cert], [cert], 'optional'));
    expect(sessionIdContext([cert], [cert], 'on')).not.toBe(sessionIdContext([cert], [], 'on'));
  });

  it('ignores CA files when clients are not verified (as nginx, which then sends no CA list)', () => {
    expect(sessionIdContext([cert], [cert], 'off')).toBe(sessionIdContext([cert], [], 'off'));
  });
});
