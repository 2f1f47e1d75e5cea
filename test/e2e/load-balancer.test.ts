/**
 * Across hosts: a real HAProxy in TCP mode (`send-proxy-v2`) balancing two Postern instances
 * round-robin, in front of a real Dovecot. Each instance is a `startProxy` of its own (its own
 * sockets, TLS endpoint and session cache, as on another host); they share only what the
 * configuration names: the auth service and the `ssl_session_ticket_key` file.
 *
 * - A client bound to 127.0.0.5 reaches auth_http as 127.0.0.5 on both instances (HAProxy
 *   connects from 127.0.0.1, which `set_real_ip_from` trusts).
 * - A TLS 1.3 session made on one instance resumes on the other (the shared ticket key);
 *   the control: behind a second frontend, an instance with its own random keys does not resume it.
 * - `postern_ssl_session_store` (extension) with a real Redis: TLS 1.2 session ids (tickets off)
 *   resume across two more instances; with Redis stopped every handshake completes without
 *   resumption and each instance logs the outage once; once Redis is back, sessions resume again.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import net from 'node:net';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  freePorts,
  generateCert,
  makeTempDir,
  removeDir,
  requireBinaries,
  startAuthServer,
  startDovecot,
  startHaproxy,
  startRedis,
  sleep,
  type AuthServer,
  type RedisHandle,
  type CertFiles,
  type DovecotHandle,
  type HaproxyHandle,
} from './harness/index.js';

requireBinaries(['haproxy', 'dovecot', 'openssl']);

const CLIENT = '127.0.0.5';

let dir: string;
let cert: CertFiles;
let dovecot: DovecotHandle;
let auth: AuthServer;
let haproxy: HaproxyHandle;
const instances: RunningProxy[] = [];
let shared: number;
let control: number;
let viaRedis: number;
let redis: RedisHandle;
/** Log lines of the instances using Redis, by instance. */
const logs: Record<string, string[]> = { d: [], e: [] };

const logTo = (lines: string[]) =>
  pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
        done();
      },
    }),
  );

const redisInstanceConfig = (name: string, port: number) => `mail {
    auth_http ${auth.url}/auth;
    auth_http_header X-Instance ${name};
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    ssl_protocols TLSv1.2;
    ssl_session_tickets off;
    postern_ssl_session_store redis://127.0.0.1:${redis.port}/3;
    set_real_ip_from 127.0.0.1;
    server { listen 127.0.0.1:${port} proxy_protocol ssl; protocol imap; }
}`;

const instanceConfig = (name: string, port: number, ticketKey: string | undefined) => `mail {
    auth_http ${auth.url}/auth;
    auth_http_header X-Instance ${name};
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    ${ticketKey === undefined ? '' : `ssl_session_ticket_key ${ticketKey};`}
    set_real_ip_from 127.0.0.1;
    server { listen 127.0.0.1:${port} proxy_protocol ssl; protocol imap; }
}`;

beforeAll(async () => {
  dir = await makeTempDir('lb');
  cert = await generateCert({ dir });
  const ticketKey = path.join(dir, 'ticket.key');
  await writeFile(ticketKey, randomBytes(80));
  dovecot = await startDovecot({ users: [{ user: 'alice', password: 'secret' }], messages: [] });
  auth = await startAuthServer({ users: { alice: 'secret' }, backends: { imap: dovecot.imapPort } });
  const [a, b, c, d, e, front1, front2, front3, redisPort] = (await freePorts(9)) as [number, number, number, number, number, number, number, number, number];
  for (const [name, port, key] of [['a', a, ticketKey], ['b', b, ticketKey], ['c', c, undefined]] as const) {
    instances.push(await startProxy(parseConfigText(instanceConfig(name, port, key), `/tmp/instance-${name}.conf`), { logger: pino({ level: 'silent' }) }));
  }
  redis = await startRedis(redisPort);
  for (const [name, port] of [['d', d], ['e', e]] as const) {
    instances.push(await startProxy(parseConfigText(redisInstanceConfig(name, port), `/tmp/instance-${name}.conf`), { logger: logTo(logs[name]!) }));
  }
  shared = front1;
  control = front2;
  viaRedis = front3;
  haproxy = await startHaproxy([
    { name: 'shared', port: front1, servers: [{ name: 'a', port: a }, { name: 'b', port: b }] },
    { name: 'control', port: front2, servers: [{ name: 'a', port: a }, { name: 'c', port: c }] },
    { name: 'redis', port: front3, servers: [{ name: 'd', port: d }, { name: 'e', port: e }] },
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([haproxy?.close(), ...instances.map((i) => i.close()), auth?.close(), dovecot?.close(), redis?.close()]);
  if (dir) await removeDir(dir);
});

interface Visit {
  instance: string;
  reused: boolean;
  session: Buffer | undefined;
  authLines: string[];
}

/** One IMAPS login through HAProxy from 127.0.0.5, resuming `session` if given. */
function visit(port: number, session?: Buffer, tls12 = false): Promise<Visit> {
  return new Promise((resolve, reject) => {
    const mark = auth.requests.length;
    let ticket: Buffer | undefined;
    let text = '';
    const tcp = net.connect({ host: '127.0.0.1', port, localAddress: CLIENT });
    const versions = tls12 ? { maxVersion: 'TLSv1.2' as const } : { minVersion: 'TLSv1.3' as const };
    const socket = tls.connect({ socket: tcp, rejectUnauthorized: false, ...versions, ...(session ? { session } : {}) });
    let loggingIn = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no login within 10 s; got ${JSON.stringify(text)}`));
    }, 10_000);
    socket.on('session', (s: Buffer) => (ticket = s));
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!loggingIn) {
        // The greeting, whole: log in.
        if (!text.includes('\r\n')) return;
        loggingIn = true;
        socket.write('a1 LOGIN alice secret\r\n');
        return;
      }
      if (/a1 OK/.test(text)) {
        clearTimeout(timer);
        const request = auth.requests[mark];
        const reused = socket.isSessionReused();
        socket.end('a2 LOGOUT\r\n');
        resolve({
          instance: request?.headers['x-instance'] ?? '?',
          reused,
          session: ticket,
          authLines: request?.lines ?? [],
        });
      } else if (/a1 (NO|BAD)/.test(text)) {
        clearTimeout(timer);
        reject(new Error(text));
      }
    });
  });
}

describe('two Postern instances behind HAProxy (send-proxy-v2)', () => {
  it('both instances see the client\'s address, 127.0.0.5', async () => {
    const first = await visit(shared);
    const second = await visit(shared);
    expect(new Set([first.instance, second.instance])).toEqual(new Set(['a', 'b']));
    for (const { authLines } of [first, second]) {
      expect(authLines).toContain(`Client-IP: ${CLIENT}`);
      expect(authLines).toContain(`Proxy-Protocol-Addr: ${CLIENT}`);
      expect(authLines).toContain(`Proxy-Protocol-Server-Port: ${shared}`);
    }
  });

  it('a TLS 1.3 session made on one instance resumes on the other (shared ssl_session_ticket_key)', async () => {
    const first = await visit(shared);
    expect(first.session).toBeDefined();
    const second = await visit(shared, first.session);
    expect(second.instance).not.toBe(first.instance);
    expect(second.reused).toBe(true);
  });

  it('control: an instance with its own random ticket keys cannot resume it', async () => {
    const first = await visit(control);
    const second = await visit(control, first.session);
    expect(new Set([first.instance, second.instance])).toEqual(new Set(['a', 'c']));
    expect(second.reused).toBe(false);
  });
});

describe('postern_ssl_session_store with Redis (TLS 1.2 session ids, tickets off)', () => {
  const outageLines = (name: string) => logs[name]!.filter((l) => l.includes('unavailable: handshakes go on without resuming'));
  const backLines = (name: string) => logs[name]!.filter((l) => l.includes('available again'));

  it('a session made on one instance resumes on the other', async () => {
    const first = await visit(viaRedis, undefined, true);
    expect(first.session).toBeDefined();
    const second = await visit(viaRedis, first.session, true);
    expect(second.instance).not.toBe(first.instance);
    expect(second.reused).toBe(true);
  });

  it('with Redis down, handshakes complete without resumption, the outage logged once per instance; then it resumes again', async () => {
    const before = await visit(viaRedis, undefined, true);
    await redis.stop();
    for (let i = 0; i < 4; i++) {
      const during = await visit(viaRedis, before.session, true);
      expect(during.reused).toBe(false);
    }
    expect(outageLines('d').length + outageLines('e').length).toBeGreaterThan(0);
    expect(outageLines('d').length).toBeLessThanOrEqual(1);
    expect(outageLines('e').length).toBeLessThanOrEqual(1);

    await redis.start();
    // The clients reconnect on their own (backing off up to 2 s).
    for (let i = 0; i < 60 && (backLines('d').length === 0 || backLines('e').length === 0); i++) await sleep(100);
    expect(backLines('d').length + backLines('e').length).toBeGreaterThan(0);
    const first = await visit(viaRedis, undefined, true);
    const second = await visit(viaRedis, first.session, true);
    expect(second.instance).not.toBe(first.instance);
    expect(second.reused).toBe(true);
  }, 30_000);
});
