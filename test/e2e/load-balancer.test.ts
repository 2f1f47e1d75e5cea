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
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import net from 'node:net';
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
  type AuthServer,
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
  const [a, b, c, front1, front2] = (await freePorts(5)) as [number, number, number, number, number];
  for (const [name, port, key] of [['a', a, ticketKey], ['b', b, ticketKey], ['c', c, undefined]] as const) {
    instances.push(await startProxy(parseConfigText(instanceConfig(name, port, key), `/tmp/instance-${name}.conf`), { logger: pino({ level: 'silent' }) }));
  }
  shared = front1;
  control = front2;
  haproxy = await startHaproxy([
    { name: 'shared', port: front1, servers: [{ name: 'a', port: a }, { name: 'b', port: b }] },
    { name: 'control', port: front2, servers: [{ name: 'a', port: a }, { name: 'c', port: c }] },
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([haproxy?.close(), ...instances.map((i) => i.close()), auth?.close(), dovecot?.close()]);
  if (dir) await removeDir(dir);
});

interface Visit {
  instance: string;
  reused: boolean;
  session: Buffer | undefined;
  authLines: string[];
}

/** One IMAPS login through HAProxy from 127.0.0.5, resuming `session` if given. */
function visit(port: number, session?: Buffer): Promise<Visit> {
  return new Promise((resolve, reject) => {
    const mark = auth.requests.length;
    let ticket: Buffer | undefined;
    let text = '';
    const tcp = net.connect({ host: '127.0.0.1', port, localAddress: CLIENT });
    const socket = tls.connect({ socket: tcp, rejectUnauthorized: false, minVersion: 'TLSv1.3', ...(session ? { session } : {}) });
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
