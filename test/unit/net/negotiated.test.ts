import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { negotiated, negotiatedSession } from '../../../src/net/negotiated.js';

/** What a TLS socket reports after its handshake; a new name string per call, as Node makes them. */
const socket = (protocol: string, cipher: string) =>
  ({ getProtocol: () => `${protocol}`.slice(0), getCipher: () => ({ name: [cipher].join(''), standardName: cipher, version: protocol }) }) as unknown as TLSSocket;

describe('what handshakes negotiated, shared between connections', () => {
  it('connections with the same protocol and suite share one frozen record; another suite has its own', () => {
    const a = negotiated(socket('TLSv1.3', 'TLS_AES_256_GCM_SHA384'));
    const b = negotiated(socket('TLSv1.3', 'TLS_AES_256_GCM_SHA384'));
    const c = negotiated(socket('TLSv1.2', 'ECDHE-RSA-AES128-GCM-SHA256'));
    expect(a).toEqual({ protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' });
    expect(b).toBe(a);
    expect(c).toEqual({ protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256' });
    expect(Object.isFrozen(a)).toBe(true);
  });

  it("a session's facts are shared per suite and resumption", () => {
    const suite = negotiated(socket('TLSv1.2', 'ECDHE-RSA-AES128-GCM-SHA256'));
    const full = negotiatedSession(suite, false);
    expect(full).toEqual({ version: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256', resumed: false });
    expect(negotiatedSession(suite, false)).toBe(full);
    expect(negotiatedSession(suite, true)).toEqual({ ...full, resumed: true });
    expect(() => {
      (full as { resumed: boolean }).resumed = true;
    }).toThrow(TypeError);
  });

  it('past the bound each connection gets its own record, still right', () => {
    for (let i = 0; i < 200; i++) negotiated(socket('TLSv1.3', `SUITE_${i}`));
    const late = negotiated(socket('TLSv1.3', 'SUITE_199'));
    expect(late).toEqual({ protocol: 'TLSv1.3', cipher: 'SUITE_199' });
    expect(negotiated(socket('TLSv1.3', 'SUITE_199'))).not.toBe(late);
    expect(negotiated(socket('TLSv1.3', 'TLS_AES_256_GCM_SHA384'))).toBe(negotiated(socket('TLSv1.3', 'TLS_AES_256_GCM_SHA384')));
  });
});
