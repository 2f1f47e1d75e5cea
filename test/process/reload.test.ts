/**
 * Hot reload with `worker_processes 1`, over real sockets, both ways Postern runs it: started as
 * nobody (one process, the configuration swapped in place) and as root (a master and a worker
 * that switched to nobody: a reload starts a new worker, which reads the root-only 0600 key
 * before it switches). `postern -s reload` and SIGHUP, with a relayed session, a TLS session and
 * a session mid-login open across two reloads, a client loop connecting all along, a certificate
 * swapped, an address added then removed, bad configurations refused while the old one keeps
 * serving (a wildcard added beside an address that has its own socket too, as nginx 1.22.1
 * refuses it), and TLS tickets: random keys outlive a reload, key files are read again.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, removeDir, type CertFiles } from '../e2e/harness/index.js';
import { nginxConf, startNginx } from '../e2e/harness/nginx.js';
import { LineClient } from '../integration/fixtures.js';
import {
  certificateFingerprint,
  expectLine,
  hammer,
  peerFingerprint,
  posternCommand,
  relayedPop3,
  startPostern,
  stillRelays,
  resumes,
  tlsTicket,
  workbench,
  writeConfig,
  type Workbench,
  type Backends,
  type PosternProcess,
  handToNobody,
  NOBODY,
  uidOf,
} from './helpers.js';

describe.each([
  { mode: 'a single process (started as nobody)', asNobody: true },
  { mode: 'a master and a worker (started as root)', asNobody: false },
])('reload in $mode', ({ asNobody }) => {
  let bench: Workbench;
  let dir: string;
  let backends: Backends;
  let certA: CertFiles;
  let certB: CertFiles;
  let postern: PosternProcess;
  let plainPort: number;
  let tlsPort: number;
  let addedPort: number;
  let conf: string;
  let pidFile: string;

  const config = (extra: { listenAdded?: boolean; directive?: string; certificate?: string; wildcard?: boolean } = {}) => `pid ${pidFile};
mail {
    auth_http 127.0.0.1:${backends.auth.port}/auth;
    ssl_certificate ${extra.certificate ?? path.join(dir, 'live.crt')};
    ssl_certificate_key ${path.join(dir, 'live.key')};
    ${extra.directive ?? ''}
    server {
        listen 127.0.0.1:${plainPort};
        ${extra.listenAdded ? `listen 127.0.0.1:${addedPort};` : ''}
        protocol pop3;
    }
    server {
        listen 127.0.0.1:${tlsPort} ssl;
        protocol pop3;
    }
    ${extra.wildcard ? `server { listen ${plainPort}; protocol imap; }` : ''}
}
`;
  const useCertificate = (cert: CertFiles) => bench.useCertificate(cert);

  beforeAll(async () => {
    bench = await workbench('reload', 3);
    ({ dir, backends, certA, certB, conf, pidFile } = bench);
    [plainPort, tlsPort, addedPort] = bench.ports as [number, number, number];
    writeConfig(conf, config());
    if (asNobody) handToNobody(dir);
    postern = await startPostern(conf, pidFile, { asNobody });
    expect(uidOf(postern.pid)).toBe(asNobody ? NOBODY : 0);
  });

  afterAll(async () => {
    await postern?.daemon.stop(5000);
    await backends?.close();
    if (dir) await removeDir(dir);
  });

  it('keeps live sessions, never refuses a connection, and serves new ones with the new configuration', async () => {
    const fingerprintA = await certificateFingerprint(tlsPort);
    const relayed = await relayedPop3(plainPort);
    const secure = await relayedPop3(tlsPort, { tls: true });
    expect(peerFingerprint(secure)).toBe(fingerprintA);
    const midLogin = await LineClient.connect(plainPort);
    await expectLine(midLogin, /^\+OK/);
    midLogin.send('USER test@example.com\r\n');
    await expectLine(midLogin, /^\+OK/);
    await expect(LineClient.connect(addedPort)).rejects.toThrow(/ECONNREFUSED/);

    const loop = hammer(plainPort);

    // Reload 1, with `postern -s reload`: a new certificate and a new address.
    useCertificate(certB);
    writeConfig(conf, config({ listenAdded: true }));
    let mark = postern.logs().length;
    const signalled = await posternCommand(['-s', 'reload', '-c', conf]);
    expect(signalled.code, signalled.stderr).toBe(0);
    await postern.waitForLog(/^reconfigured from/, mark);

    const fingerprintB = await certificateFingerprint(tlsPort);
    expect(fingerprintB).not.toBe(fingerprintA);
    const viaAdded = await relayedPop3(addedPort);
    expect(await stillRelays(viaAdded)).toMatch(/^-ERR unknown command STAT/);
    viaAdded.close();
    expect(await stillRelays(relayed)).toMatch(/^-ERR unknown command STAT/);
    expect(await stillRelays(secure)).toMatch(/^-ERR unknown command STAT/);
    midLogin.send('PASS secret\r\n');
    await expectLine(midLogin, /^\+OK pass ok/);

    // Reload 2, with SIGHUP: the added address goes away again.
    writeConfig(conf, config());
    mark = postern.logs().length;
    process.kill(postern.pid, 'SIGHUP');
    await postern.waitForLog(/^reconfigured from/, mark);
    await expect(LineClient.connect(addedPort)).rejects.toThrow(/ECONNREFUSED/);
    expect(await certificateFingerprint(tlsPort)).toBe(fingerprintB);

    const { ok, failed } = await loop.stop();
    expect(failed).toEqual([]);
    expect(ok).toBeGreaterThan(0);

    for (const client of [relayed, secure, midLogin]) {
      expect(await stillRelays(client)).toMatch(/^-ERR unknown command STAT/);
      client.send('QUIT\r\n');
      await expectLine(client, /^\+OK quit ok/);
      client.close();
    }
  });

  it('refuses a bad configuration with the -t error and keeps serving the old one', async () => {
    const before = await certificateFingerprint(tlsPort);
    const relayed = await relayedPop3(plainPort);
    const cases = [
      config({ directive: 'no_such_directive on;' }),
      config({ certificate: path.join(dir, 'missing.crt') }),
    ];
    for (const text of cases) {
      writeConfig(conf, text);
      const checked = await posternCommand(['-t', '-c', conf]);
      expect(checked.code).toBe(1);
      const emerg = /\[emerg\] (.*)/.exec(checked.stderr)![1]!;

      const mark = postern.logs().length;
      process.kill(postern.pid, 'SIGHUP');
      const refusal = await postern.waitForLog(/reload refused/, mark);
      expect(refusal).toContain(emerg);

      expect(await certificateFingerprint(tlsPort)).toBe(before);
      const fresh = await relayedPop3(plainPort);
      fresh.close();
      expect(await stillRelays(relayed)).toMatch(/^-ERR unknown command STAT/);
    }
    relayed.close();
    writeConfig(conf, config());
  });

  it('refuses, as nginx 1.22.1 does, a reload that adds a wildcard on the port of an address with a socket of its own, and keeps serving', async () => {
    // The new wildcard would serve 127.0.0.1 too, but Linux refuses to bind it while the old
    // configuration's 127.0.0.1 socket listens; nginx tries five times, then keeps its old cycle.
    const nginxBlock = (wildcard: boolean) => `mail {\n  auth_http 127.0.0.1:9/auth;\n  server { listen 127.0.0.1:${nginxPort}; protocol pop3; }\n  ${wildcard ? `server { listen ${nginxPort}; protocol imap; }` : ''}\n}\n`;
    const [nginxPort] = (await freePorts(1)) as [number];
    const nginx = await startNginx({ mailBlock: nginxBlock(false), masterProcess: true });
    try {
      const mark = nginx.errorLogMark();
      writeFileSync(nginx.configPath, nginxConf(nginx.prefix, { mailBlock: nginxBlock(true), masterProcess: true }));
      nginx.signal('SIGHUP');
      await nginx.waitForLog(/still could not bind/, 10_000);
      expect(nginx.errorLog().slice(mark)).toContain(`bind() to 0.0.0.0:${nginxPort} failed (98: Address already in use)`);
      const client = await LineClient.connect(nginxPort);
      await expectLine(client, /^\+OK/);
      client.close();
    } finally {
      await nginx.close();
    }

    const relayed = await relayedPop3(plainPort);
    writeConfig(conf, config({ wildcard: true }));
    const mark = postern.logs().length;
    process.kill(postern.pid, 'SIGHUP');
    const refusal = await postern.waitForLog(/reload refused/, mark);
    expect(refusal).toContain(`bind() to 0.0.0.0:${plainPort} failed (98: Address already in use)`);
    const fresh = await relayedPop3(plainPort);
    fresh.close();
    expect(await stillRelays(relayed)).toMatch(/^-ERR unknown command STAT/);
    relayed.close();
    writeConfig(conf, config());
  });

  it('keeps random session ticket keys: a ticket from before a reload resumes after it', async () => {
    const ticket = await tlsTicket(tlsPort);
    expect(await resumes(tlsPort, ticket)).toBe(true);
    const mark = postern.logs().length;
    process.kill(postern.pid, 'SIGHUP');
    await postern.waitForLog(/^reconfigured from/, mark);
    expect(await resumes(tlsPort, ticket)).toBe(true);
  });

  it('reads ssl_session_ticket_key files again: a ticket under the old key no longer resumes', async () => {
    const keyFile = path.join(dir, 'ticket.key');
    const reload = async () => {
      const mark = postern.logs().length;
      process.kill(postern.pid, 'SIGHUP');
      await postern.waitForLog(/^reconfigured from/, mark);
    };
    writeFileSync(keyFile, randomBytes(48));
    writeConfig(conf, config({ directive: `ssl_session_ticket_key ${keyFile};` }));
    await reload();
    const ticket = await tlsTicket(tlsPort);
    expect(await resumes(tlsPort, ticket)).toBe(true);
    await reload();
    expect(await resumes(tlsPort, ticket)).toBe(true);
    writeFileSync(keyFile, randomBytes(48));
    await reload();
    expect(await resumes(tlsPort, ticket)).toBe(false);
    writeConfig(conf, config());
    await reload();
  });
});
