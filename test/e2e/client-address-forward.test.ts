/**
 * `postern_proxy_forward on` (extension) against the real Dovecot with `login_trusted_networks`:
 * a client connecting from 127.0.0.5 logs in through Postern (which reaches Dovecot from
 * 127.0.0.1), and Dovecot's login line names the client (`rip=127.0.0.5`), for IMAP (ID before
 * LOGIN) and POP3 (XCLIENT before USER). Without the directive Dovecot names Postern
 * (`rip=127.0.0.1`): that is what the extension changes. Dovecot also logs the session id
 * Postern chose, and a backend that does not trust Postern still logs the user in.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  connect,
  freePorts,
  requireBinaries,
  sleep,
  startAuthServer,
  startDovecot,
  type AuthServer,
  type DovecotHandle,
  type LineClient,
} from './harness/index.js';

requireBinaries(['dovecot']);

const CLIENT = '127.0.0.5';

let trusting: DovecotHandle;
let distrusting: DovecotHandle;
let authTrusting: AuthServer;
let authDistrusting: AuthServer;
let proxy: RunningProxy;
let ports: number[];

beforeAll(async () => {
  const users = [{ user: 'alice', password: 'secret' }];
  [trusting, distrusting] = await Promise.all([
    startDovecot({ users, messages: [], extraConfig: 'login_trusted_networks = 127.0.0.1/32\n' }),
    startDovecot({ users, messages: [] }),
  ]);
  authTrusting = await startAuthServer({ users: { alice: 'secret' }, backends: { imap: trusting.imapPort, pop3: trusting.pop3Port } });
  authDistrusting = await startAuthServer({ users: { alice: 'secret' }, backends: { imap: distrusting.imapPort, pop3: distrusting.pop3Port } });
  ports = await freePorts(6);
  const text = `mail {
    auth_http ${authTrusting.url}/auth;
    postern_proxy_forward on;
    server { listen 127.0.0.1:${ports[0]}; protocol imap; }
    server { listen 127.0.0.1:${ports[1]}; protocol pop3; }
    server { listen 127.0.0.1:${ports[2]}; protocol imap; postern_proxy_forward off; }
    server { listen 127.0.0.1:${ports[3]}; protocol pop3; postern_proxy_forward off; }
    server { listen 127.0.0.1:${ports[4]}; protocol imap; auth_http ${authDistrusting.url}/auth; }
    server { listen 127.0.0.1:${ports[5]}; protocol pop3; auth_http ${authDistrusting.url}/auth; }
}`;
  proxy = await startProxy(parseConfigText(text, '/tmp/forward.conf'), { logger: pino({ level: 'silent' }) });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([proxy?.close(), authTrusting?.close(), authDistrusting?.close(), trusting?.close(), distrusting?.close()]);
});

async function imapLogin(port: number): Promise<void> {
  const client: LineClient = await connect(port, { localAddress: CLIENT });
  expect(await client.readLine()).toMatch(/^\* OK/);
  client.sendLine('a1 LOGIN alice secret');
  expect(await client.readUntil(/^a1 /m)).toMatch(/^a1 OK/m);
  client.sendLine('a2 LOGOUT');
  await client.expectClosed();
}

async function pop3Login(port: number): Promise<void> {
  const client: LineClient = await connect(port, { localAddress: CLIENT });
  expect(await client.readLine()).toMatch(/^\+OK/);
  client.sendLine('USER alice');
  expect(await client.readLine()).toMatch(/^\+OK/);
  client.sendLine('PASS secret');
  expect(await client.readLine()).toMatch(/^\+OK/);
  client.sendLine('QUIT');
  await client.expectClosed();
}

/** Dovecot's login lines for alice since `from`, e.g. `imap-login: Login: user=<alice>, ..., rip=127.0.0.5, ...`. */
async function loginLines(dovecot: DovecotHandle, from: number): Promise<string[]> {
  for (let i = 0; i < 40; i++) {
    const lines = (await dovecot.log()).slice(from).split('\n').filter((l) => /-login: (?:Info: )?Login: user=<alice>/.test(l));
    if (lines.length > 0) return lines;
    await sleep(50);
  }
  return [];
}

describe('postern_proxy_forward with Dovecot', () => {
  it.each([
    ['IMAP (ID)', 'imap', imapLogin, 0],
    ['POP3 (XCLIENT)', 'pop3', pop3Login, 1],
  ] as const)('%s: Dovecot logs the client, not Postern', async (_name, protocol, login, index) => {
    const from = (await trusting.log()).length;
    await login(ports[index]!);
    const [line] = await loginLines(trusting, from);
    expect(line).toMatch(new RegExp(`${protocol}-login: (?:Info: )?Login: user=<alice>.*rip=127\\.0\\.0\\.5,`));
    // Postern's session id reaches Dovecot's log (base64url, 16 characters).
    expect(line).toMatch(/session=<[A-Za-z0-9_-]{16}>/);
  });

  it.each([
    ['IMAP', imapLogin, 2],
    ['POP3', pop3Login, 3],
  ] as const)('%s without the directive: Dovecot sees Postern\'s address', async (_name, login, index) => {
    const from = (await trusting.log()).length;
    await login(ports[index]!);
    const [line] = await loginLines(trusting, from);
    expect(line).toMatch(/rip=127\.0\.0\.1,/);
  });

  it.each([
    ['IMAP', imapLogin, 4],
    ['POP3', pop3Login, 5],
  ] as const)('%s to a Dovecot that does not trust Postern: the login still succeeds, as Postern\'s address', async (_name, login, index) => {
    const from = (await distrusting.log()).length;
    await login(ports[index]!);
    const [line] = await loginLines(distrusting, from);
    expect(line).toMatch(/rip=127\.0\.0\.1,/);
  });
});
