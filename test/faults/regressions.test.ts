/**
 * Bugs the fault suite found, each pinned by a deterministic case (the sweeps found them only at
 * some offsets, on some runs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { beforeLogin, CLEAN, Conversation, FakeAuth, LEVEL, loginLine, PROTOCOLS, resources, settle, sleep, startFaultProxy, type FaultProxy } from './harness.js';

describe('a client that leaves while its auth request is out', () => {
  let auth: FakeAuth;
  let fp: FaultProxy;
  beforeAll(async () => {
    // The auth service never answers: the request is out when the client leaves.
    auth = await FakeAuth.start(() => ({ hang: true }));
    fp = await startFaultProxy(auth.port);
  });
  afterAll(async () => {
    await fp.close();
    await auth.stop();
  });

  for (const protocol of PROTOCOLS) {
    for (const how of ['resets', 'closes'] as const) {
      it(`${protocol}: the client ${how}; the session ends with "client closed connection", nothing logged above info (nginx logs nothing), nothing left`, async () => {
        const before = resources();
        const mark = fp.log.length;
        const requests = auth.requests;
        const c = await Conversation.connect(fp.port(protocol, 'plain'));
        await beforeLogin(c, protocol, 'plain', 'alice');
        await c.send(loginLine(protocol, 'alice'), 'login');
        for (let i = 0; auth.requests === requests && i < 1000; i++) await sleep(5);
        expect(auth.requests).toBe(requests + 1);
        if (how === 'resets') c.wire.reset();
        else c.wire.end();
        expect(await settle(fp, before)).toEqual(CLEAN);
        c.destroy();
        const lines = fp.since(mark);
        // Before the fix: an error-level "aborted" line, from the request the session's close aborted.
        expect(lines.filter((line) => line.level > LEVEL.info)).toEqual([]);
        expect(lines.at(-1)?.msg).toBe('client closed connection');
      });
    }
  }
});
