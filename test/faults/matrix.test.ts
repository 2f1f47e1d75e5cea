/**
 * Faults of the auth service and the backends (issue 11, item 6), each over POP3, IMAP and SMTP,
 * plaintext, STARTTLS and implicit TLS, against Postern in this process. Every case ends with
 * nginx 1.22.1's reply (recorded in cases.ts, re-observed by record-nginx.ts), Postern's log lines
 * for the session, the connection closed by the proxy, nothing left behind (no session, no
 * `worker_connections` slot, no handle above the count before), and the next client served: a
 * full login, a relayed command and QUIT/LOGOUT through the same listener.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedVictim, FAULTS, NEXT, victimSession, type FaultCase } from './cases.js';
import {
  CLEAN,
  FakeAuth,
  fullSession,
  LOGGED_IN,
  PROTOCOLS,
  QUIT,
  RELAYED,
  resources,
  settle,
  startBackend,
  startFaultProxy,
  TRANSPORTS,
  type AuthAnswer,
  type Backend,
  type FaultProxy,
  type LogLine,
  type Protocol,
} from './harness.js';
import { passes } from '../../src/log/levels.js';

/** Postern's lines as record-nginx.ts keeps nginx's: [level, text before `, client: `], info and above, without the "connected to" line. */
function sessionLines(lines: LogLine[]): Array<[string, string]> {
  return lines.filter((line) => passes(line.level, 'info') && !/^client \S+ connected to \S+$/.test(line.msg)).map((line) => [line.level, line.msg]);
}

describe('faults of the auth service and the backends', () => {
  const good = new Map<Protocol, Backend>();
  let auth: FakeAuth;
  /** The victim's auth answer, set per case. */
  let victimAnswer: AuthAnswer = { hang: true };

  beforeAll(async () => {
    for (const protocol of PROTOCOLS) good.set(protocol, await startBackend(protocol, 'good'));
    auth = await FakeAuth.start(({ user, protocol }) => (user === NEXT ? { ok: good.get(protocol as Protocol)!.port } : victimAnswer));
  });
  afterAll(async () => {
    await auth.stop();
    for (const backend of good.values()) await backend.close();
  });

  const withPort = (answer: AuthAnswer, port: number): AuthAnswer =>
    'ok' in answer ? { ok: port } : 'afterMs' in answer ? { afterMs: answer.afterMs, then: withPort(answer.then, port) } : answer;

  describe.each(FAULTS.map((kase) => [kase.id, kase] as const))('%s', (_, kase: FaultCase) => {
    let fp: FaultProxy;
    beforeAll(async () => {
      fp = await startFaultProxy(auth.port, kase.extra ?? '');
    });
    afterAll(async () => {
      await fp.close();
    });

    it.each(PROTOCOLS.flatMap((protocol) => TRANSPORTS.map((transport) => [`${protocol}/${transport}`, protocol, transport] as const)))(
      `${kase.title}: %s`,
      async (_label, protocol, transport) => {
        const backend = await startBackend(protocol, kase.backend ?? 'good');
        try {
          const peers = { auth: `127.0.0.1:${auth.port}`, upstream: `127.0.0.1:${backend.port}` };
          victimAnswer = kase.auth === undefined || kase.auth === 'down' ? { ok: backend.port } : withPort(kase.auth, backend.port);
          const port = fp.port(protocol, transport);
          const before = resources();
          const mark = fp.log.length;

          // The victim: nginx's reply, then the proxy closes the connection (bounded wait).
          if (kase.auth === 'down') await auth.stop();
          let got: { reply: string; login?: string };
          try {
            got = await victimSession(port, protocol, transport, kase);
          } finally {
            if (kase.auth === 'down') await auth.listen();
          }
          expect(got).toEqual(expectedVictim(protocol, kase));

          // Nothing left: no session, no worker_connections slot, no handle.
          expect(await settle(fp, before)).toEqual(CLEAN);
          const lines = fp.since(mark);
          expect(sessionLines(lines)).toEqual((kase.postern ?? kase.nginx)(protocol, peers));

          // The next client: a full session through the same listener.
          expect(await fullSession(port, protocol, transport, NEXT)).toBe(LOGGED_IN[protocol] + RELAYED[protocol].reply + QUIT[protocol].reply);
          expect(await settle(fp, before)).toEqual(CLEAN);
          if (kase.relay) expect(backend.relayed).toEqual([RELAYED[protocol].command.trimEnd()]);
        } finally {
          await backend.close();
        }
      },
    );
  });
});
