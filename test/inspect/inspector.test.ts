import http from 'node:http';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import type { MailConfig } from '../../src/config/types.js';
import { clientFilter, createSessionInspector, type LiveSessionInspector } from '../../src/inspect/inspector.js';
import { startInspectorRelay, type InspectorRelay } from '../../src/inspect/server.js';
import { silentLogger } from '../../src/log.js';
import { Secret } from '../../src/secret.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { fakeBackend, LineClient, serverConfig } from '../integration/fixtures.js';

const PASSWORD = 'Inspect0r-only-pa55-9k2';
const SASL_PLAIN = Buffer.from(`\0someone\0${PASSWORD}`).toString('base64');

function get(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Opens a WebSocket; resolves with it once open, or with the HTTP status it was refused with. */
function openWs(url: string, origin?: string): Promise<WebSocket | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, origin === undefined ? {} : { origin });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
}

const connectRefused = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });

describe('inspector relay (src/inspect/server.ts)', () => {
  let relay: InspectorRelay;
  beforeAll(async () => {
    relay = await startInspectorRelay({ port: 0 });
  });
  afterAll(async () => {
    await relay.close();
  });

  it('listens on 127.0.0.1 only', async () => {
    expect(relay.address().address).toBe('127.0.0.1');
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((i) => i !== undefined && !i.internal && i.family === 'IPv4')
      .map((i) => i!.address);
    for (const address of others) expect(await connectRefused(address, relay.address().port), address).toBe(true);
  });

  it('serves the bridge page (which frames stately.ai/inspect) only for a loopback Host', async () => {
    const { port } = relay.address();
    const page = await get(port, `127.0.0.1:${port}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('"https://stately.ai/inspect"');
    expect(page.body).toContain("'/viewer'");
    expect((await get(port, `localhost:${port}`)).status).toBe(200);
    expect((await get(port, `attacker.example:${port}`)).status).toBe(403);
  });

  it('lets only the app publish and only its own page view', async () => {
    const { port } = relay.address();
    expect(await openWs(`ws://127.0.0.1:${port}/app`)).toBe(403);
    expect(await openWs(relay.appUrl, 'https://evil.example')).toBe(403);
    expect(await openWs(`ws://127.0.0.1:${port}/viewer`, 'https://evil.example')).toBe(403);
    expect(await openWs(`ws://127.0.0.1:${port}/viewer`)).toBe(403);
    const viewer = await openWs(`ws://127.0.0.1:${port}/viewer`, `http://127.0.0.1:${port}`);
    expect(viewer).toBeInstanceOf(WebSocket);
    (viewer as WebSocket).close();
  });
});

describe('clientFilter (--inspect-client)', () => {
  it('matches an address or a CIDR block, IPv4 and IPv6', () => {
    expect(clientFilter('127.0.0.1')('127.0.0.1')).toBe(true);
    expect(clientFilter('127.0.0.1')('127.0.0.2')).toBe(false);
    expect(clientFilter('10.1.0.0/16')('10.1.200.3')).toBe(true);
    expect(clientFilter('10.1.0.0/16')('10.2.0.1')).toBe(false);
    expect(clientFilter('2001:db8::/32')('2001:db8::1')).toBe(true);
    expect(clientFilter('2001:db8::/32')('127.0.0.1')).toBe(false);
    expect(() => clientFilter('10.0.0.0/33')).toThrow(/invalid client address/);
    expect(() => clientFilter('example.com')).toThrow(/invalid client address/);
  });
});

describe('postern --inspect: live sessions reach the viewer, secrets do not', () => {
  let relay: InspectorRelay;
  let inspector: LiveSessionInspector;
  let proxy: RunningProxy;
  let backend: Awaited<ReturnType<typeof fakeBackend>>;
  const received: string[] = [];
  let viewer: WebSocket;

  beforeAll(async () => {
    backend = await fakeBackend('pop3');
    relay = await startInspectorRelay({ port: 0 });
    const { port } = relay.address();
    viewer = (await openWs(`ws://127.0.0.1:${port}/viewer`, `http://localhost:${port}`)) as WebSocket;
    viewer.on('message', (data) => received.push(data.toString()));
    inspector = createSessionInspector({ url: relay.appUrl, sessions: 1, client: '127.0.0.0/8' });
    const auth = {
      request: async (request: AuthRequest): Promise<AuthOutcome> =>
        request.method === 'plain' && request.user === 'someone' && request.attempt === 1 && request.password.length > 0
          ? { status: 'fail', text: 'Invalid login or password', waitSeconds: 0.05 }
          : { status: 'ok', server: '127.0.0.1', port: backend.port, user: 'test@example.com', password: new Secret('secret') },
    };
    const config: MailConfig = { file: 'test', servers: [serverConfig({ protocol: 'pop3' })], notices: [], workerProcesses: 1, workerConnections: 512 };
    proxy = await startProxy(config, { logger: silentLogger(), authFor: () => auth, inspector });
  });
  afterAll(async () => {
    viewer.close();
    await proxy.close();
    inspector.stop();
    await relay.close();
    await backend.close();
  });

  it('streams the first matching session and never a password', async () => {
    const port = proxy.listeners[0]!.port;
    const first = await LineClient.connect(port);
    expect(await first.line()).toBe('+OK POP3 ready');
    first.send(`AUTH PLAIN ${SASL_PLAIN}\r\n`);
    expect(await first.line()).toBe('-ERR Invalid login or password');
    first.send(`USER someone\r\nPASS ${PASSWORD}\r\n`);
    expect(await first.lines(2)).toEqual(['+OK', '+OK pass ok']);
    first.send('QUIT\r\n');
    expect(await first.lines(2)).toEqual(['+OK quit ok', null]);
    // Beyond --inspect-sessions 1: not streamed.
    const second = await LineClient.connect(port);
    await second.line();
    second.send('QUIT\r\n');
    await second.lines(2);
    expect(inspector.inspected()).toBe(1);

    const deadline = Date.now() + 5000;
    const closedSeen = () => received.some((m) => m.includes('"@xstate.snapshot"') && m.includes('"value":"closed"'));
    while (!closedSeen() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(closedSeen()).toBe(true);

    const messages = received.map((m) => JSON.parse(m) as { type: string; sessionId: string; event?: { type: string } });
    expect(new Set(messages.map((m) => m.type))).toEqual(new Set(['@xstate.actor', '@xstate.event', '@xstate.snapshot']));
    expect(new Set(messages.map((m) => m.sessionId)).size).toBe(1);
    const events = messages.filter((m) => m.type === '@xstate.event').map((m) => m.event?.type);
    expect(events).toEqual(expect.arrayContaining(['cmd.authenticate', 'auth.result', 'cmd.user', 'cmd.pass', 'backend.ready', 'relay.ended']));

    const all = received.join('\n');
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(SASL_PLAIN);
    expect(all).not.toContain('"secret"');
    // Secrets travel as the journal writes them.
    expect(all).toContain('{"$secret":"redacted"}');
  });
});
