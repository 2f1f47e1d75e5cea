/**
 * A login that would inject commands into the backend's POP3 session (issue 10, item 8), with
 * Python's poplib through nginx 1.22.1 and through Postern to a real Dovecot, and an auth
 * service that accepts whatever it is sent. `AUTH PLAIN` whose login decodes to
 * `victim\r\nPASS pw\r\nDELE 1\r\nQUIT`: nginx copies it into its `USER` line and Dovecot deletes
 * the victim's first message; Postern refuses it before the auth service is asked, so Dovecot
 * never hears of it. Postern's log names the refusal, never the login or the password.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  freePorts,
  python,
  requireBinaries,
  startAuthServer,
  startDovecot,
  startNginx,
  unescapeAuthValue,
  type AuthServer,
  type DovecotHandle,
  type NginxHandle,
} from './harness/index.js';

requireBinaries(['nginx', 'dovecot', 'python3']);

const PASSWORD = 'Zq7-victim-pw';
const injected = (victim: string) => `${victim}\r\nPASS ${PASSWORD}\r\nDELE 1\r\nQUIT`;

/** AUTH PLAIN with the injected login through the proxy; prints the proxy's reply. */
const ATTACK = `
import base64, poplib, sys
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=10)
plain = base64.b64encode(b'\\0' + sys.argv[2].encode() + b'\\0' + sys.argv[3].encode()).decode()
try:
    print(p._shortcmd('AUTH PLAIN ' + plain).decode())
except poplib.error_proto as e:
    print(e.args[0].decode())
`;

/** Messages in a Maildir (new and cur). */
const messages = (dc: DovecotHandle, user: string) =>
  ['new', 'cur'].reduce((n, sub) => n + readdirSync(path.join(dc.mailDir(user), sub)).length, 0);

describe('CR LF in a POP3 login: nginx 1.22.1 lets it through, Postern refuses it', () => {
  let dc: DovecotHandle;
  let auth: AuthServer;
  let ng: NginxHandle;
  let proxy: RunningProxy;
  const ports = { nginx: 0, postern: 0 };
  const posternLog: string[] = [];

  beforeAll(async () => {
    dc = await startDovecot({ users: ['nginxvictim', 'posternvictim'].map((user) => ({ user, password: PASSWORD })) });
    // Accepts any login, as a careless auth service would: the account is the login's first line.
    auth = await startAuthServer({
      handler: () => ({ headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(dc.pop3Port) } }),
    });
    [ports.nginx, ports.postern] = (await freePorts(2)) as [number, number];
    const block = (port: number) => `mail {\n  auth_http ${auth.url}/auth;\n  server { listen 127.0.0.1:${port}; protocol pop3; }\n}\n`;
    ng = await startNginx({ mailBlock: block(ports.nginx) });
    const logger = pino({ level: 'debug' }, { write: (line: string) => posternLog.push(line) });
    proxy = await startProxy(parseConfigText(block(ports.postern), 'unsafe-credentials.conf'), { logger });
  });

  afterAll(async () => {
    await Promise.allSettled([proxy?.close(), ng?.close(), auth?.close(), dc?.close()]);
  });

  it('nginx: the backend runs the injected DELE (the threat, and proof that this test sees it)', async () => {
    expect(messages(dc, 'nginxvictim')).toBe(4);
    await python(ATTACK, [String(ports.nginx), injected('nginxvictim'), PASSWORD]);
    expect(auth.requests.map((r) => unescapeAuthValue(r.headers['auth-user'] ?? ''))).toContain(injected('nginxvictim'));
    await expect.poll(() => messages(dc, 'nginxvictim')).toBe(3);
    await expect.poll(() => dc.log()).toMatch(/pop3\(nginxvictim\).*del=1\/4/);
  });

  it('Postern: -ERR invalid command, the auth service is not asked, Dovecot never sees the login', async () => {
    const requestsBefore = auth.requests.length;
    const result = await python(ATTACK, [String(ports.postern), injected('posternvictim'), PASSWORD]);
    expect(result.stdout).toBe('-ERR invalid command\n');
    expect(auth.requests.length).toBe(requestsBefore);
    expect(messages(dc, 'posternvictim')).toBe(4);
    expect(await dc.log()).not.toMatch(/posternvictim/);

    const log = posternLog.join('');
    expect(log).toContain('client sent login with CR, LF or NUL');
    expect(log).not.toContain(PASSWORD);
    expect(log).not.toContain('DELE');
  });
});
