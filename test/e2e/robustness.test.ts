/**
 * Robustness end to end (Postern only, real Dovecot and auth server): hostile or broken
 * clients, a dead auth service, a dead backend. Every scenario must end with no leaked
 * sockets or timers in this process (Postern runs in-process): the counts of
 * `process.getActiveResourcesInfo()` must come back to what they were before.
 *
 * Expected replies follow nginx 1.22.1 (observed with the same inputs in
 * differential.test.ts, whose scenarios compare them byte for byte).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  connect,
  freePort,
  freePorts,
  generateCert,
  removeDir,
  requireBinaries,
  sleep,
  startAuthServer,
  startDovecot,
  type AuthServer,
  type CertFiles,
  type DovecotHandle,
  type LineClient,
} from './harness/index.js';
import { scenarioAuthHandler, USERS } from './scenarios/auth.js';
import { CLIENT_HELLO, GARBAGE } from './scenarios/bytes.js';

requireBinaries(['dovecot', 'openssl']);

/** Handles that a leaked session would keep alive. */
const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'ConnectWrap', 'Timeout', 'TLSWrap'];

function resources(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) if (WATCHED.includes(r)) out[r] = (out[r] ?? 0) + 1;
  return out;
}

function exceeds(now: Record<string, number>, before: Record<string, number>): string[] {
  return Object.keys(now).filter((k) => (now[k] ?? 0) > (before[k] ?? 0));
}

/** Polls until no watched resource count is above `before` (sessions may take a moment to wind down). */
async function expectNoLeak(before: Record<string, number>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let now = resources();
  while (exceeds(now, before).length > 0 && Date.now() < deadline) {
    await sleep(50);
    now = resources();
  }
  expect(now, `resources before: ${JSON.stringify(before)}`).toEqual(
    Object.fromEntries(Object.entries(now).map(([k, v]) => [k, Math.min(v, before[k] ?? 0)])),
  );
}

/** A deterministic PRNG for binary junk. */
function junk(n: number, seed: number): string {
  let x = seed >>> 0;
  let s = '';
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const b = x >>> 24;
    s += String.fromCharCode(i % 7 === 0 ? 0 : b);
  }
  return s;
}

async function linesUntilClosed(c: LineClient, timeoutMs = 5000): Promise<string[]> {
  const rest = await c.expectClosed(timeoutMs);
  return rest.split('\r\n').filter((l, i, a) => !(l === '' && i === a.length - 1));
}

describe('robustness (Postern only)', () => {
  let cert: CertFiles | undefined;
  let dc: DovecotHandle | undefined;
  let auth: AuthServer | undefined;
  let proxy: RunningProxy | undefined;
  let p: { imap: number; pop3: number; imaps: number; pop3s: number; imapDeadAuth: number; pop3DeadAuth: number };

  beforeAll(async () => {
    cert = await generateCert();
    dc = await startDovecot({ users: USERS });
    const deadPort = await freePort();
    const deadAuthPort = await freePort();
    auth = await startAuthServer({ handler: scenarioAuthHandler({ backends: { imap: dc.imapPort, pop3: dc.pop3Port }, deadPort }) });
    const [imap, pop3, imaps, pop3s, imapDeadAuth, pop3DeadAuth] = (await freePorts(6)) as [number, number, number, number, number, number];
    p = { imap, pop3, imaps, pop3s, imapDeadAuth, pop3DeadAuth };
    const block = `mail {
    server_name mx.test;
    auth_http ${auth.url}/auth;
    auth_http_timeout 2s;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    server { listen 127.0.0.1:${imap}; protocol imap; }
    server { listen 127.0.0.1:${pop3}; protocol pop3; }
    server { listen 127.0.0.1:${imaps} ssl; protocol imap; }
    server { listen 127.0.0.1:${pop3s} ssl; protocol pop3; }
    server { listen 127.0.0.1:${imapDeadAuth}; protocol imap; auth_http 127.0.0.1:${deadAuthPort}/auth; }
    server { listen 127.0.0.1:${pop3DeadAuth}; protocol pop3; auth_http 127.0.0.1:${deadAuthPort}/auth; }
}
`;
    proxy = await startProxy(parseConfigText(block, 'robustness.conf'), { logger: silentLogger() });
  });

  afterAll(async () => {
    const results = await Promise.allSettled([proxy?.close(), auth?.close(), dc?.close()]);
    if (cert) await removeDir(cert.dir);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  /** The proxy still serves a full login afterwards. */
  async function stillWorks(): Promise<void> {
    const c = await connect(p.imap);
    try {
      expect(await c.readLine()).toBe('* OK IMAP4 ready');
      await c.sendLine('ok1 LOGIN alice secret');
      expect(await c.readLine()).toMatch(/^ok1 OK .*Logged in$/);
      await c.sendLine('ok2 LOGOUT');
      await c.readTagged('ok2');
      await c.expectClosed();
    } finally {
      c.close();
    }
  }

  it('binary garbage with NUL bytes (IMAP): invalid-command replies, then max_errors closes', async () => {
    const before = resources();
    const c = await connect(p.imap);
    expect(await c.readLine()).toBe('* OK IMAP4 ready');
    await c.send(GARBAGE);
    expect(await c.readLines(3)).toEqual(['* BAD invalid command', '* BAD invalid command', '* BAD invalid command']);
    await c.send('\x00\x01\x02\r\n\xff\xff\r\n');
    const rest = await linesUntilClosed(c);
    expect(rest).toEqual(['* BAD invalid command', '* BAD invalid command']);
    c.close();
    await expectNoLeak(before);
  });

  it('binary garbage with NUL bytes (POP3): -ERR replies, then max_errors closes', async () => {
    const before = resources();
    const c = await connect(p.pop3);
    expect(await c.readLine()).toBe('+OK POP3 ready');
    await c.send(GARBAGE);
    expect(await c.readLines(3)).toEqual(['-ERR invalid command', '-ERR invalid command', '-ERR invalid command']);
    await c.send('\x00\r\n\x00\r\n');
    expect(await linesUntilClosed(c)).toEqual(['-ERR invalid command', '-ERR invalid command']);
    c.close();
    await expectNoLeak(before);
  });

  it('4 KB of random binary (with NULs) per protocol: only invalid-command replies and a close', async () => {
    const before = resources();
    for (const [port, greeting, re] of [
      [p.imap, '* OK IMAP4 ready', /^(\*|[A-Za-z0-9._-]+)? ?BAD invalid command$/],
      [p.pop3, '+OK POP3 ready', /^-ERR invalid command$/],
    ] as const) {
      for (const seed of [1, 2, 3]) {
        const c = await connect(port);
        expect(await c.readLine()).toBe(greeting);
        await c.send(junk(4096, seed)).catch(() => undefined);
        const lines = await linesUntilClosed(c);
        for (const l of lines) expect(l).toMatch(re);
        c.close();
      }
    }
    await expectNoLeak(before);
  });

  it('a TLS ClientHello sent to the plaintext IMAP port: BAD replies and max_errors close (like nginx)', async () => {
    const before = resources();
    const c = await connect(p.imap);
    expect(await c.readLine()).toBe('* OK IMAP4 ready');
    await c.send(CLIENT_HELLO);
    expect(await c.readLines(4)).toEqual(Array(4).fill('* BAD invalid command'));
    await c.send('\r\n');
    expect(await linesUntilClosed(c)).toEqual(['* BAD invalid command']);
    c.close();
    await expectNoLeak(before);
  });

  it('a TLS ClientHello sent to the plaintext POP3 port: too long, -ERR and close (like nginx)', async () => {
    const before = resources();
    const c = await connect(p.pop3);
    expect(await c.readLine()).toBe('+OK POP3 ready');
    await c.send(CLIENT_HELLO);
    expect(await linesUntilClosed(c)).toEqual(['-ERR invalid command']);
    c.close();
    await expectNoLeak(before);
  });

  it('a real TLS client on the plaintext ports fails its handshake and is closed', async () => {
    const before = resources();
    for (const port of [p.imap, p.pop3]) {
      await expect(connect(port, { tls: true, timeoutMs: 8000 })).rejects.toThrow();
    }
    await expectNoLeak(before, 8000);
  });

  it('plaintext sent to the implicit-TLS ports: clean close without a protocol reply', async () => {
    const before = resources();
    for (const [port, input] of [
      [p.imaps, 'a1 LOGIN alice secret\r\n'],
      [p.pop3s, 'USER alice\r\nPASS secret\r\n'],
      [p.imaps, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'],
      [p.pop3s, '\x00'.repeat(600)],
    ] as const) {
      const c = await connect(port);
      await c.send(input);
      const got = await c.expectClosed(5000);
      expect(got).not.toMatch(/OK|ERR|BAD|IMAP4|POP3/);
      c.close();
    }
    await expectNoLeak(before);
  });

  it('a client that closes at every byte offset of an IMAP login exchange', async () => {
    const before = resources();
    const script = 'a1 LOGIN alice secret\r\na2 SELECT INBOX\r\na3 LOGOUT\r\n';
    for (let k = 0; k <= script.length; k++) {
      const c = await connect(p.imap);
      await c.readLine();
      if (k > 0) await c.send(script.slice(0, k));
      if (k % 3 === 1) await sleep(20); // sometimes let the proxy get into the auth/backend phase
      if (k % 2 === 0) c.close();
      else c.end(); // FIN only: the proxy must close its side too
    }
    await expectNoLeak(before, 8000);
    await stillWorks();
    await expectNoLeak(before);
  });

  it('a client that closes at every byte offset of a POP3 login exchange', async () => {
    const before = resources();
    const script = 'USER alice\r\nPASS secret\r\nSTAT\r\nQUIT\r\n';
    for (let k = 0; k <= script.length; k++) {
      const c = await connect(p.pop3);
      await c.readLine();
      if (k > 0) await c.send(script.slice(0, k));
      if (k % 3 === 1) await sleep(20);
      if (k % 2 === 0) c.close();
      else c.end();
    }
    await expectNoLeak(before, 8000);
    await stillWorks();
    await expectNoLeak(before);
  });

  it('a client that closes during the implicit-TLS handshake or right after it', async () => {
    const before = resources();
    for (let k = 0; k <= CLIENT_HELLO.length; k += 37) {
      const c = await connect(p.imaps);
      await c.send(CLIENT_HELLO.slice(0, k));
      if (k % 2 === 0) c.close();
      else c.end();
    }
    for (let i = 0; i < 5; i++) {
      const c = await connect(p.pop3s, { tls: true });
      if (i % 2 === 1) await c.readLine();
      if (i >= 3) await c.send('USER alice\r\nPASS secret\r\n');
      c.close();
    }
    await expectNoLeak(before, 8000);
  });

  it('a client that vanishes while the auth request is pending', async () => {
    const before = resources();
    const c = await connect(p.imap);
    await c.readLine();
    await c.sendLine('a1 LOGIN hang x');
    await auth!.waitForRequests(1).catch(() => undefined);
    c.close();
    // auth_http_timeout 2s: the pending auth request must be dropped by then.
    await sleep(2200);
    await expectNoLeak(before, 3000);
  });

  it('dead auth service port → internal error line and close (IMAP and POP3)', async () => {
    const before = resources();
    const i = await connect(p.imapDeadAuth);
    expect(await i.readLine()).toBe('* OK IMAP4 ready');
    await i.sendLine('a1 LOGIN alice secret');
    expect(await linesUntilClosed(i)).toEqual(['* BAD internal server error']);
    i.close();
    const q = await connect(p.pop3DeadAuth);
    expect(await q.readLine()).toBe('+OK POP3 ready');
    await q.send('USER alice\r\nPASS secret\r\n');
    expect(await linesUntilClosed(q)).toEqual(['+OK', '-ERR internal server error']);
    q.close();
    await expectNoLeak(before);
  });

  it('backend port with nothing listening → internal error line and close (IMAP and POP3)', async () => {
    const before = resources();
    const i = await connect(p.imap);
    expect(await i.readLine()).toBe('* OK IMAP4 ready');
    await i.sendLine('a1 LOGIN deadbackend x');
    expect(await linesUntilClosed(i)).toEqual(['* BAD internal server error']);
    i.close();
    const q = await connect(p.pop3s, { tls: true });
    expect(await q.readLine()).toBe('+OK POP3 ready');
    await q.send('USER deadbackend\r\nPASS x\r\n');
    expect(await linesUntilClosed(q)).toEqual(['+OK', '-ERR internal server error']);
    q.close();
    await expectNoLeak(before);
  });

  it('auth service failures (500 garbage, invalid header, drop) leave nothing behind', async () => {
    const before = resources();
    for (const user of ['err500', 'garbage', 'badheader', 'drop', 'noserver']) {
      const c = await connect(p.imap);
      await c.readLine();
      await c.sendLine(`a1 LOGIN ${user} x`);
      expect(await linesUntilClosed(c), user).toEqual(['* BAD internal server error']);
      c.close();
    }
    await expectNoLeak(before);
  });

  it('many concurrent sessions that log in and hang up mid-relay', async () => {
    const before = resources();
    const clients = await Promise.all(Array.from({ length: 20 }, () => connect(p.pop3)));
    await Promise.all(
      clients.map(async (c, i) => {
        await c.readLine();
        await c.send('USER alice\r\nPASS secret\r\n');
        await c.readLines(2);
        if (i % 2 === 0) await c.send('RETR 4\r\n'); // leave ~1 MB in flight
      }),
    );
    for (const c of clients) c.close();
    await expectNoLeak(before, 8000);
    await stillWorks();
  });
});
