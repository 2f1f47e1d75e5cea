import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import type { MailConfig, ServerConfig } from '../../src/config/types.js';
import { silentLogger } from '../../src/log.js';
import { Secret } from '../../src/secret.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { fakeBackend, LineClient, serverConfig, testCertificate } from './fixtures.js';

type Backend = Awaited<ReturnType<typeof fakeBackend>>;

/** A scripted auth service: good credentials go to the fake backend, `wait*` users fail with Auth-Wait. */
function scriptedAuth(backends: { pop3: Backend; imap: Backend }, requests: AuthRequest[]) {
  return {
    request: async (request: AuthRequest): Promise<AuthOutcome> => {
      requests.push(request);
      if (request.user === 'broken') return { status: 'error', reason: 'auth http server 127.0.0.1:1 sent invalid header in response' };
      if (request.user.startsWith('wait')) return { status: 'fail', text: 'Invalid login or password', waitSeconds: 0.2 };
      if (request.user === 'nowait') return { status: 'fail', text: 'Invalid login or password' };
      if (request.user === 'deadbackend') return { status: 'ok', server: '127.0.0.1', port: 1 };
      const backend = request.protocol === 'pop3' ? backends.pop3 : backends.imap;
      if (request.method === 'cram-md5' || request.method === 'apop') {
        return { status: 'ok', server: '127.0.0.1', port: backend.port, user: 'test@example.com', password: new Secret('secret') };
      }
      return { status: 'ok', server: '127.0.0.1', port: backend.port };
    },
  };
}

describe('session runtime over real sockets (fake auth service and backends)', () => {
  let backends: { pop3: Backend; imap: Backend };
  const requests: AuthRequest[] = [];
  const proxies: RunningProxy[] = [];

  beforeAll(async () => {
    backends = { pop3: await fakeBackend('pop3'), imap: await fakeBackend('imap') };
  });
  afterEach(async () => {
    for (const proxy of proxies.splice(0)) await proxy.close();
    requests.length = 0;
  });
  afterAll(async () => {
    await backends.pop3.close();
    await backends.imap.close();
  });

  async function start(overrides: Partial<ServerConfig>): Promise<number> {
    const config: MailConfig = { file: 'test', servers: [serverConfig(overrides)], notices: [], workerProcesses: 1, workerConnections: 512 };
    const proxy = await startProxy(config, { logger: silentLogger(), authFor: () => scriptedAuth(backends, requests) });
    proxies.push(proxy);
    return proxy.listeners[0]!.port;
  }

  it('POP3: pipelined USER/PASS/STAT logs in and hands the rest to the backend', async () => {
    const port = await start({ protocol: 'pop3' });
    const client = await LineClient.connect(port);
    expect(await client.line()).toBe('+OK POP3 ready');
    client.send('USER test@example.com\r\nPASS secret\r\nSTAT\r\n');
    expect(await client.lines(3)).toEqual(['+OK', '+OK pass ok', '-ERR unknown command STAT']);
    expect(requests[0]).toMatchObject({ method: 'plain', user: 'test@example.com', protocol: 'pop3', attempt: 1, clientIp: '127.0.0.1' });
    expect(JSON.stringify(requests[0])).not.toContain('secret"');
    client.send('QUIT\r\n');
    expect(await client.line()).toBe('+OK quit ok');
    client.close();
  });

  it('IMAP: LOGIN with literals gets "+ OK" continuations and the backend tagged OK', async () => {
    const port = await start({ protocol: 'imap' });
    const client = await LineClient.connect(port);
    expect(await client.line()).toBe('* OK IMAP4 ready');
    client.send('a1 LOGIN {16}\r\n');
    expect(await client.line()).toBe('+ OK');
    client.send('test@example.com {6}\r\n');
    expect(await client.line()).toBe('+ OK');
    client.send('secret\r\n');
    expect(await client.line()).toBe('a1 OK login ok');
    client.send('a2 SELECT INBOX\r\n');
    expect(await client.line()).toBe('a2 OK SELECT relayed');
    client.close();
  });

  it('IMAP STARTTLS drops the command pipelined behind it, then capabilities change', async () => {
    const cert = testCertificate();
    const port = await start({
      protocol: 'imap',
      starttls: 'on',
      ssl: { ...serverConfig().ssl, certificates: [cert.certificate], certificateKeys: [cert.key] },
    });
    const client = await LineClient.connect(port);
    await client.line();
    client.send('c1 CAPABILITY\r\n');
    expect(await client.lines(2)).toEqual(['* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN STARTTLS', 'c1 OK completed']);
    client.send('h2 STARTTLS\r\nh3 CAPABILITY\r\n');
    expect(await client.line()).toBe('h2 OK completed');
    await client.startTls();
    client.send('h4 CAPABILITY\r\n');
    expect(await client.lines(2)).toEqual(['* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN', 'h4 OK completed']);
    client.send('h5 STARTTLS\r\n');
    expect(await client.line()).toBe('h5 BAD invalid command');
    client.send('h6 LOGIN test@example.com secret\r\n');
    expect(await client.line()).toBe('h6 OK login ok');
    expect(requests[0]?.tls?.protocol).toBe('TLSv1.3');
    client.close();
  });

  it('POP3 over implicit TLS greets after the handshake', async () => {
    const cert = testCertificate();
    const port = await start({
      protocol: 'pop3',
      listens: [{ host: '127.0.0.1', port: 0, text: '127.0.0.1:0', ssl: true, bind: false, where: { file: 't', line: 1 } }],
      ssl: { ...serverConfig().ssl, certificates: [cert.certificate], certificateKeys: [cert.key] },
    });
    const client = await LineClient.connect(port, { tls: true });
    expect(await client.line()).toBe('+OK POP3 ready');
    client.send('CAPA\r\n');
    expect(await client.lines(6)).toEqual(['+OK Capability list follows', 'TOP', 'USER', 'UIDL', 'SASL PLAIN LOGIN', '.']);
    client.close();
  });

  it('a failure with Auth-Wait answers after the delay and lets the client retry', async () => {
    const port = await start({ protocol: 'pop3' });
    const client = await LineClient.connect(port);
    await client.line();
    client.send('USER wait1\r\nPASS x\r\n');
    const started = Date.now();
    expect(await client.lines(2)).toEqual(['+OK', '-ERR Invalid login or password']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    client.send('PASS secret\r\n');
    expect(await client.line()).toBe('-ERR invalid command');
    client.send('USER test@example.com\r\nPASS secret\r\n');
    expect(await client.lines(2)).toEqual(['+OK', '+OK pass ok']);
    expect(requests.map((r) => r.attempt)).toEqual([1, 2]);
    client.close();
  });

  it('commands pipelined behind a failed login are read once the Auth-Wait delay is over', async () => {
    const port = await start({ protocol: 'pop3' });
    const client = await LineClient.connect(port);
    await client.line();
    client.send('USER wait1\r\nPASS x\r\nUSER test@example.com\r\nPASS secret\r\nSTAT\r\n');
    expect(await client.lines(5)).toEqual(['+OK', '-ERR Invalid login or password', '+OK', '+OK pass ok', '-ERR unknown command STAT']);
    client.close();
  });

  it('a failure without Auth-Wait answers and closes', async () => {
    const port = await start({ protocol: 'imap' });
    const client = await LineClient.connect(port);
    await client.line();
    client.send('f2 LOGIN nowait x\r\n');
    expect(await client.lines(2)).toEqual(['f2 NO Invalid login or password', null]);
  });

  it('an auth service failure gives the internal-error line and a close', async () => {
    const port = await start({ protocol: 'imap' });
    const client = await LineClient.connect(port);
    await client.line();
    client.send('a LOGIN broken x\r\n');
    expect(await client.lines(2)).toEqual(['* BAD internal server error', null]);
  });

  it('a dead backend gives the internal-error line and a close', async () => {
    const port = await start({ protocol: 'pop3' });
    const client = await LineClient.connect(port);
    await client.line();
    client.send('USER deadbackend\r\nPASS x\r\n');
    expect(await client.lines(3)).toEqual(['+OK', '-ERR internal server error', null]);
  });

  it('max_errors closes after the last counted invalid command', async () => {
    const port = await start({ protocol: 'pop3', maxErrors: 2 });
    const client = await LineClient.connect(port);
    await client.line();
    client.send('FOO\r\nBAR\r\nBAZZ\r\n');
    expect(await client.lines(3)).toEqual(['-ERR invalid command', '-ERR invalid command', null]);
  });

  it('timeout closes silently, however busy the client is', async () => {
    const port = await start({ protocol: 'pop3', timeoutMs: 400 });
    const client = await LineClient.connect(port);
    await client.line();
    const started = Date.now();
    client.send('NOOP\r\n');
    expect(await client.line()).toBe('+OK');
    setTimeout(() => client.send('NOOP\r\n'), 200);
    expect(await client.line()).toBe('+OK');
    expect(await client.line(2000)).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  });

  it('a POP3 line over 128 bytes gets the invalid reply and a close', async () => {
    const port = await start({ protocol: 'pop3' });
    const client = await LineClient.connect(port);
    await client.line();
    client.send(`USER ${'x'.repeat(130)}\r\n`);
    expect(await client.lines(2)).toEqual(['-ERR invalid command', null]);
  });

  it('leaves no open handles behind after sessions end', async () => {
    const port = await start({ protocol: 'pop3' });
    const before = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;
    for (let i = 0; i < 5; i++) {
      const client = await LineClient.connect(port);
      await client.line();
      client.send('USER test@example.com\r\nPASS secret\r\nQUIT\r\n');
      expect(await client.lines(4)).toEqual(['+OK', '+OK pass ok', '+OK quit ok', null]);
    }
    const garbage = await LineClient.connect(port);
    garbage.send('\u0016\u0003\u0001\u0000\u00ff binary \u0000 garbage\r\n');
    garbage.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'Timeout').length;
    expect(after).toBeLessThanOrEqual(before);
  });
});
