/**
 * One hostile client must not hurt anyone else (issue 10): backpressure towards a client that
 * never reads, fairness against a pipelining flood, `worker_connections`,
 * `postern_limit_conn_per_ip`, and containment of a fault inside one connection. No timing
 * assertion: bytes, commands and event-loop turns are counted.
 */
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import { connectionMachine } from '../../machines/connection.js';
import type { MailConfig, ServerConfig } from '../../src/config/types.js';
import { pino } from 'pino';
import { silentLogger, type Logger } from '../../src/log.js';
import { startProxy, type RunningProxy, type StartOptions } from '../../src/server.js';
import type { AuthService } from '../../src/session/session.js';
import { fakeBackend, LineClient, serverConfig, testCertificate } from './fixtures.js';

type Backend = Awaited<ReturnType<typeof fakeBackend>>;

const okAuth = (backend: () => Backend): AuthService => ({
  request: async (): Promise<AuthOutcome> => ({ status: 'ok', server: '127.0.0.1', port: backend().port }),
});

// A full collection before each reading, so that what is counted is what is held, not garbage.
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

const bytesHeld = () => {
  collectGarbage();
  const m = process.memoryUsage();
  return m.heapUsed + m.external + m.arrayBuffers;
};

/** An IMAP server on an implicit-TLS (`ssl`) listen. */
function implicitTls(): Partial<ServerConfig> {
  const { certificate, key } = testCertificate();
  const base = serverConfig({ protocol: 'imap' });
  return { listens: [{ ...base.listens[0]!, ssl: true }], ssl: { ...base.ssl, certificates: [certificate], certificateKeys: [key] } };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A logger whose lines a test can read (pino JSON lines, parsed). */
function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('edge safety: one connection cannot hurt another', () => {
  let imapBackend: Backend;
  const proxies: RunningProxy[] = [];
  const clients: Array<LineClient | net.Socket> = [];

  beforeAll(async () => {
    imapBackend = await fakeBackend('imap');
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) (client instanceof LineClient ? client.socket : client).destroy();
    for (const proxy of proxies.splice(0)) await proxy.close();
  });
  afterAll(async () => {
    await imapBackend.close();
  });

  async function start(server: Partial<ServerConfig>, options: Partial<StartOptions> = {}, workerConnections = 512): Promise<{ proxy: RunningProxy; port: number }> {
    const config: MailConfig = { file: 'test', servers: [serverConfig({ protocol: 'imap', ...server })], notices: [], workerProcesses: 1, workerConnections };
    const proxy = await startProxy(config, { logger: silentLogger(), authFor: () => okAuth(() => imapBackend), ...options });
    proxies.push(proxy);
    return { proxy, port: proxy.listeners[0]!.port };
  }

  async function connect(port: number): Promise<LineClient> {
    const client = await LineClient.connect(port);
    clients.push(client);
    return client;
  }

  for (const transport of ['plaintext', 'implicit TLS'] as const) {
    it(`${transport}: a client that pipelines and never reads is stopped by TCP, not buffered: the proxy holds a bounded number of bytes, and answers in order once it reads`, async () => {
      // The journal counts the commands the proxy has taken in (one entry per event, no bytes kept).
      let entries = 0;
      const { port } = await start(transport === 'plaintext' ? {} : implicitTls(), {
        journalFor: () => () => ({ write: () => void entries++, close: () => undefined }),
      });
      const socket: net.Socket =
        transport === 'plaintext' ? net.connect({ port, host: '127.0.0.1' }) : tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
      clients.push(socket);
      socket.pause();
      await once(socket, transport === 'plaintext' ? 'connect' : 'secureConnect');
      const command = 'a CAPABILITY\r\n';
      // 16 MB of pipelined commands (~1.2 million) in 64 KB writes: answered without backpressure,
      // they would queue ~170 MB of replies in the proxy.
      const chunk = Buffer.from(command.repeat(4681));
      const chunks = 256;
      const payload = chunk.length * chunks;
      let taken = 0;
      const before = bytesHeld();
      for (let i = 0; i < chunks; i++) socket.write(chunk, () => (taken += chunk.length));
      // Wait until the proxy stops taking commands in: its journal stays the same over ten looks
      // (without backpressure it goes on until all 1.2 million are answered).
      let seen = -1;
      for (let still = 0; still < 10; ) {
        await new Promise((r) => setTimeout(r, 50));
        still = entries === seen ? still + 1 : 0;
        seen = entries;
      }
      // The proxy stopped: most of the payload is still the client's to send...
      expect(entries).toBeLessThan(payload / command.length / 4);
      expect(taken).toBeLessThan(payload / 2);
      // ...and what it holds for this client is bounded (socket buffers, one chunk).
      expect(bytesHeld() - before).toBeLessThan(8 * 1024 * 1024);

      // Now it reads: the proxy resumes and answers in order, past what it had answered before.
      const answeredBefore = Math.ceil(taken / command.length);
      let tagged = 0;
      let pending = '';
      socket.on('data', (data: Buffer) => {
        pending += data.toString('latin1');
        const lines = pending.split('\r\n');
        pending = lines.pop()!;
        for (const line of lines) if (line === 'a OK completed') tagged++;
      });
      socket.resume();
      // (the test's timeout is the failure if it never does).
      while (tagged < answeredBefore + 20_000) await new Promise((r) => setTimeout(r, 20));
    }, 120_000);
  }

  it('a NOOP flood from one client does not hold up another client\'s login: a bounded number of flood commands run meanwhile', async () => {
    const { port } = await start({});
    const flooder = net.connect({ port, host: '127.0.0.1' });
    clients.push(flooder);
    await once(flooder, 'connect');
    let answered = 0;
    let tail = '';
    flooder.on('data', (data: Buffer) => {
      const text = tail + data.toString('latin1');
      const parts = text.split('f OK');
      answered += parts.length - 1;
      tail = parts.at(-1)!.slice(-3);
    });
    // 2 MB of pipelined NOOPs: ~240,000 commands, many 64 KB reads.
    flooder.write(Buffer.from('f NOOP\r\n'.repeat(256 * 1024)));
    while (answered < 1000) await turn();

    const client = await connect(port);
    expect(await client.line()).toBe('* OK IMAP4 ready');
    const atLogin = answered;
    client.send('b LOGIN test@example.com secret\r\n');
    expect(await client.line()).toBe('b OK login ok');
    const during = answered - atLogin;
    // Each turn of the event loop runs at most COMMANDS_PER_TURN (16) flood commands; the login
    // takes a few dozen turns (auth request, backend connect and its dialogue). Without the
    // per-turn budget one 64 KB read runs ~8,000 NOOPs before anything else.
    expect(during).toBeLessThan(2000);
    expect(answered).toBeLessThan(256 * 1024);
  }, 60_000);

  it('worker_connections: listeners and clients count; one more client is closed without a greeting, with nginx\'s alert; sessions in progress carry on', async () => {
    const { logger, lines } = capturingLogger();
    // 4 = the listening socket + 3 clients.
    const { proxy, port } = await start({}, { logger }, 4);
    const admitted = [await connect(port), await connect(port), await connect(port)];
    for (const client of admitted) expect(await client.line()).toBe('* OK IMAP4 ready');
    expect(proxy.connectionsInUse).toBe(4);
    const refused = await connect(port);
    expect(await refused.line()).toBeNull();
    expect(lines.some((l) => l.msg === '4 worker_connections are not enough' && l.level === 60)).toBe(true);
    // Those admitted go on; a login needs an auth connection, and none is left: internal error.
    admitted[0]!.send('a NOOP\r\n');
    expect(await admitted[0]!.line()).toBe('a OK completed');
    admitted[1]!.send('b LOGIN test@example.com secret\r\n');
    expect(await admitted[1]!.line()).toBe('* BAD internal server error');
    expect(await admitted[1]!.line()).toBeNull();
    // That freed a slot: a new client gets in and logs in (auth, then upstream, take one each in turn).
    while (proxy.connectionsInUse > 3) await turn();
    admitted[2]!.close();
    while (proxy.connectionsInUse > 2) await turn();
    const late = await connect(port);
    expect(await late.line()).toBe('* OK IMAP4 ready');
    late.send('c LOGIN test@example.com secret\r\n');
    expect(await late.line()).toBe('c OK login ok');
    expect(proxy.connectionsInUse).toBe(4);
  });

  it('postern_limit_conn_per_ip: one connection more from an address gets the internal-error line; a slot frees when one leaves', async () => {
    const { port } = await start({ limitConnPerIp: 2 });
    const first = await connect(port);
    const second = await connect(port);
    expect(await first.line()).toBe('* OK IMAP4 ready');
    expect(await second.line()).toBe('* OK IMAP4 ready');
    const third = await connect(port);
    expect(await third.line()).toBe('* BAD internal server error');
    expect(await third.line()).toBeNull();
    first.close();
    let fourth: LineClient;
    let greeting: string | null;
    // The proxy sees the close a turn or two later; retry until the slot is back (bounded).
    for (let attempt = 0; ; attempt++) {
      fourth = await connect(port);
      greeting = await fourth.line();
      if (greeting === '* OK IMAP4 ready' || attempt === 20) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(greeting).toBe('* OK IMAP4 ready');
  });

  describe('containment: a fault in one connection closes that connection only', () => {
    it('a guard that throws: internal-error reply and close for that client, an alert, and the others carry on', async () => {
      const { logger, lines } = capturingLogger();
      const faulty = connectionMachine.provide({
        guards: {
          authAccepted: () => {
            throw new Error('guard bug');
          },
        },
      });
      const { port } = await start({}, { logger, machine: faulty });
      const bystander = await connect(port);
      expect(await bystander.line()).toBe('* OK IMAP4 ready');
      const victim = await connect(port);
      expect(await victim.line()).toBe('* OK IMAP4 ready');
      victim.send('a LOGIN test@example.com secret\r\n');
      expect(await victim.line()).toBe('* BAD internal server error');
      expect(await victim.line()).toBeNull();
      expect(lines.some((l) => l.level === 60 && String(l.msg).includes('internal error') && String(l.err).includes('guard bug'))).toBe(true);
      bystander.send('b NOOP\r\n');
      expect(await bystander.line()).toBe('b OK completed');
      const next = await connect(port);
      expect(await next.line()).toBe('* OK IMAP4 ready');
    });

    const faultyAuth = (fault: 'throws' | 'rejects'): AuthService => ({
      request: (request: AuthRequest) => {
        if (request.user === 'boom') {
          if (fault === 'throws') throw new Error('effect bug');
          return Promise.reject(new Error('effect bug'));
        }
        return okAuth(() => imapBackend).request(request, new AbortController().signal);
      },
    });

    for (const fault of ['throws', 'rejects'] as const) {
      it(`an effect that ${fault}: internal-error reply and close for that client, the others log in`, async () => {
        const { port } = await start({}, { authFor: () => faultyAuth(fault) });
        const victim = await connect(port);
        const other = await connect(port);
        expect(await victim.line()).toBe('* OK IMAP4 ready');
        expect(await other.line()).toBe('* OK IMAP4 ready');
        victim.send('a LOGIN boom secret\r\n');
        expect(await victim.line()).toBe('* BAD internal server error');
        expect(await victim.line()).toBeNull();
        other.send('b LOGIN test@example.com secret\r\n');
        expect(await other.line()).toBe('b OK login ok');
      });
    }
  });
});
