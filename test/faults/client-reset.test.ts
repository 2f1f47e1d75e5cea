/**
 * The client resets its connection at every byte offset of a scripted login dialogue (resets.ts):
 * POP3, IMAP and SMTP; plaintext, STARTTLS and implicit TLS (offsets in the encrypted bytes on the
 * wire, handshake included); then once more at every write boundary after the replies arrived.
 *
 * Each cut ends with the session closed and nothing left (no session, no `worker_connections`
 * slot, no handle above the count before the cut), the session's lines at `info` or below with a
 * close reason that fits where the cut fell, and the proxy serving the next connection (the next
 * cut's dialogue starts with a greeting; after the sweep, a full session).
 *
 * nginx 1.22.1 on the same sweep (`npx tsx test/faults/record-nginx.ts resets`, with its
 * default `ssl_protocols`, so TLS 1.2 and other byte counts) logs every cut at `info` or not at
 * all: `recv() failed (104: Connection reset by peer) while in auth state`, `peer closed connection
 * in SSL handshake (104: Connection reset by peer) while SSL handshaking` (or `while in starttls
 * state`), `send()`/`SSL_write() failed (104: Connection reset by peer)` or `(32: Broken pipe)`
 * `while proxying and sending to client`, `recv() failed ... while proxying and reading from
 * client`, then `proxied session done`. Postern's words differ (issue 14); its levels agree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aboveInfo, FakeAuth, fullSession, LOGGED_IN, PROTOCOLS, resources, settle, startBackend, startFaultProxy, CLEAN, type Backend, type FaultProxy, type Protocol, type Resources, type Transport } from './harness.js';
import { RESET_TARGETS, sweep, SWEEP_USER, type CutResult } from './resets.js';

const CLIENT_CLOSED = /^client closed connection while \S.*$/;
/** During the handshake, in nginx's words (STARTTLS: "in starttls state"); a client gone just after it completed: closed, in auth state. */
const HANDSHAKE = /^((peer closed connection in SSL handshake|SSL_do_handshake\(\) failed \((SSL: .+|\d+: .+)\)) while (SSL handshaking|in starttls state)|client closed connection while in auth state)$/;
const RELAY = /^proxied session done$/;
/** Lines a session may log before its close reason. */
const ALONG = /^(client \S+ connected to \S+|(recv|send)\(\) failed \(\d+: .+\)( while .+)?|client logged in)$/;

/** The close reason a cut must end with, by where it fell. */
function closeReason(phase: string, transport: Transport): RegExp {
  switch (phase) {
    case 'connect':
      return transport === 'implicit' ? HANDSHAKE : CLIENT_CLOSED;
    case 'handshake':
      return HANDSHAKE;
    case 'greeting':
    case 'preauth':
    case 'login':
      // A cut right after STARTTLS/STLS falls in the handshake nginx would be starting.
      return transport === 'starttls' ? new RegExp(`${CLIENT_CLOSED.source}|${HANDSHAKE.source}`) : CLIENT_CLOSED;
    case 'relay':
    case 'end':
      return RELAY;
    default:
      throw new Error(`unknown phase ${phase}`);
  }
}

describe('the client resets at every byte offset of a login dialogue', () => {
  const backends = new Map<Protocol, Backend>();
  let auth: FakeAuth;
  let fp: FaultProxy;

  beforeAll(async () => {
    for (const protocol of PROTOCOLS) backends.set(protocol, await startBackend(protocol, 'good'));
    auth = await FakeAuth.start(({ user, protocol }) => (user === SWEEP_USER || user === 'next' ? { ok: backends.get(protocol as Protocol)!.port } : { hang: true }));
    fp = await startFaultProxy(auth.port);
  });
  afterAll(async () => {
    await fp.close();
    await auth.stop();
    for (const backend of backends.values()) await backend.close();
  });

  it.each(RESET_TARGETS.map((target) => [`${target.protocol}/${target.transport}`, target] as const))(
    '%s',
    async (label, target) => {
      let before: Resources = resources();
      let mark = fp.log.length;
      const failures: string[] = [];
      const check = async (cut: CutResult) => {
        const where = `${label}, ${cut.mode} cut at byte ${cut.k} (${cut.phase})`;
        const left = await settle(fp, before);
        const lines = fp.since(mark);
        if (JSON.stringify(left) !== JSON.stringify(CLEAN)) failures.push(`${where}: left ${JSON.stringify(left)} after ${JSON.stringify(lines.map((line) => line.line))}`);
        const loud = lines.filter(aboveInfo);
        if (loud.length > 0) failures.push(`${where}: logged above info: ${JSON.stringify(loud)}`);
        if (cut.phase === 'reference') return;
        const last = lines.at(-1)?.msg ?? '(nothing)';
        if (!closeReason(cut.phase, target.transport).test(last)) failures.push(`${where}: closed with ${JSON.stringify(last)}`);
        const stray = lines.slice(0, -1).filter((line) => !ALONG.test(line.msg));
        if (stray.length > 0) failures.push(`${where}: unexpected lines ${JSON.stringify(stray.map((line) => line.msg))}`);
      };
      const result = await sweep(fp.port(target.protocol, target.transport), target, {
        before: () => {
          before = resources();
          mark = fp.log.length;
        },
        after: check,
      });
      console.log(`${label}: ${result.cuts} cuts over ${result.total} bytes (${result.boundaries.length - 1} writes); by phase ${JSON.stringify(result.phases)}`);
      expect(failures).toEqual([]);
      // Every offset was cut: 0..total immediately, and at every write boundary when idle.
      expect(result.cuts).toBe(result.total + 1 + result.boundaries.length);
      expect(await fullSession(fp.port(target.protocol, target.transport), target.protocol, target.transport, 'next')).toMatch(new RegExp(`^${LOGGED_IN[target.protocol].replace(/[+*]/g, '\\$&')}`));
      expect(await settle(fp, before)).toEqual(CLEAN);
    },
    300_000,
  );
});
