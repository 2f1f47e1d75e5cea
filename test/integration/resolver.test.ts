import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuthRequest } from '../../machines/types.js';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import tls from 'node:tls';
import { LineClient, testCertificate } from './fixtures.js';

const PTR = 12;
const A = 1;

/** What the fake DNS server answers: a PTR name (bytes as given), NXDOMAIN, or silence. */
type Mode = { ptr: string } | 'nxdomain' | 'silent';

function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((l) => l !== '').map((l) => Buffer.from(l, 'latin1'));
  return Buffer.concat([...parts.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0])]);
}

/** The question of a query: its name (dotted, lower case), type, and where it ends in the packet. */
function parseQuestion(query: Buffer): { name: string; type: number; end: number } {
  const labels: string[] = [];
  let at = 12;
  while (query[at]! !== 0) {
    const length = query[at]!;
    labels.push(query.subarray(at + 1, at + 1 + length).toString('latin1'));
    at += 1 + length;
  }
  const type = query.readUInt16BE(at + 1);
  return { name: labels.join('.').toLowerCase(), type, end: at + 5 };
}

/** A response to `query`: rcode and answers `[type, rdata]`, each owned by the question name (pointer 0xC00C). */
function response(query: Buffer, rcode: number, answers: Array<[type: number, rdata: Buffer]>): Buffer {
  const { end } = parseQuestion(query);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  header.writeUInt16BE(0x8180 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const records = answers.map(([type, rdata]) => {
    const record = Buffer.alloc(12);
    record.writeUInt16BE(0xc00c, 0);
    record.writeUInt16BE(type, 2);
    record.writeUInt16BE(1, 4);
    record.writeUInt32BE(60, 6);
    record.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([record, rdata]);
  });
  return Buffer.concat([header, query.subarray(12, end), ...records]);
}

async function fakeDns(): Promise<{ port: number; mode: Mode; asked: string[]; close(): Promise<void> }> {
  const socket: UdpSocket = createSocket('udp4');
  const state = {
    port: 0,
    mode: { ptr: 'a.example.net' } as Mode,
    asked: [] as string[],
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  socket.on('message', (query, peer) => {
    const { name, type } = parseQuestion(query);
    state.asked.push(`${type === PTR ? 'PTR' : type === A ? 'A' : type} ${name}`);
    let reply: Buffer | null = null;
    if (state.mode === 'silent') return;
    if (state.mode === 'nxdomain') reply = response(query, 3, []);
    else if (type === PTR && name === '1.0.0.127.in-addr.arpa') reply = response(query, 0, [[PTR, encodeName(state.mode.ptr)]]);
    else if (type === A && name === state.mode.ptr.toLowerCase()) reply = response(query, 0, [[A, Buffer.from([127, 0, 0, 1])]]);
    else reply = response(query, 3, []);
    socket.send(reply, peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  state.port = socket.address().port;
  return state;
}

describe('resolver: the SMTP client host name through a real (fake) DNS server', () => {
  let dns: Awaited<ReturnType<typeof fakeDns>>;
  const seen: AuthRequest[] = [];
  const proxies: RunningProxy[] = [];

  beforeAll(async () => {
    dns = await fakeDns();
  });
  afterEach(async () => {
    for (const proxy of proxies.splice(0)) await proxy.close();
    seen.length = 0;
    dns.asked.length = 0;
  });
  afterAll(async () => {
    await dns.close();
  });

  async function start(resolver: string, timeout = '2s', implicitTls = false): Promise<number> {
    const { certificate, key } = testCertificate();
    const config = parseConfigText(
      `mail { auth_http 127.0.0.1:1/; server_name mx.test; ${resolver} resolver_timeout ${timeout};\n` +
        `  ssl_certificate ${certificate}; ssl_certificate_key ${key};\n` +
        `  server { listen 127.0.0.1:1${implicitTls ? ' ssl' : ''}; protocol smtp; } }`,
      'test',
    );
    const server = config.servers[0]!;
    server.listens = [{ ...server.listens[0]!, port: 0, text: '127.0.0.1:0' }];
    const proxy = await startProxy(config, {
      logger: silentLogger(),
      authFor: () => ({
        request: async (r) => {
          seen.push(r);
          return { status: 'fail', text: 'x' };
        },
      }),
    });
    proxies.push(proxy);
    return proxy.listeners[0]!.port;
  }

  /** Greeting, then AUTH PLAIN; returns the Client-Host the auth service saw. */
  async function clientHostSeen(port: number): Promise<string> {
    const client = await LineClient.connect(port);
    expect(await client.line()).toBe('220 mx.test ESMTP ready');
    client.send(`AUTH PLAIN ${Buffer.from('\0user\0secret').toString('base64')}\r\n`);
    expect(await client.line()).toMatch(/^535 /);
    client.close();
    expect(seen).toHaveLength(1);
    return seen[0]!.clientHost ?? '(none)';
  }

  it('PTR name whose A record is the client address: Client-Host is the name', async () => {
    dns.mode = { ptr: 'a.example.net' };
    const port = await start(`resolver 127.0.0.1:${dns.port};`);
    expect(await clientHostSeen(port)).toBe('a.example.net');
    expect(dns.asked).toEqual(['PTR 1.0.0.127.in-addr.arpa', 'A a.example.net']);
  });

  it('PTR NXDOMAIN: [UNAVAILABLE]', async () => {
    dns.mode = 'nxdomain';
    const port = await start(`resolver 127.0.0.1:${dns.port};`);
    expect(await clientHostSeen(port)).toBe('[UNAVAILABLE]');
  });

  it('PTR name carrying CR LF (CVE-2026-28753): [TEMPUNAVAIL], no forward lookup', async () => {
    dns.mode = { ptr: 'evil.example.net\r\nAuth-Status: OK' };
    const port = await start(`resolver 127.0.0.1:${dns.port};`);
    expect(await clientHostSeen(port)).toBe('[TEMPUNAVAIL]');
    expect(dns.asked).toEqual(['PTR 1.0.0.127.in-addr.arpa']);
  });

  it('no answer within resolver_timeout: [TEMPUNAVAIL], and the greeting waits for it', async () => {
    dns.mode = 'silent';
    const port = await start(`resolver 127.0.0.1:${dns.port};`, '300ms');
    const started = Date.now();
    expect(await clientHostSeen(port)).toBe('[TEMPUNAVAIL]');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it('a client that leaves while its lookup is pending is dropped cleanly', async () => {
    dns.mode = 'silent';
    const port = await start(`resolver 127.0.0.1:${dns.port};`, '5s');
    const client = await LineClient.connect(port);
    client.send('EHLO x\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    client.socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toEqual([]);
    // proxy.close() in afterEach must not wait on the abandoned lookup.
  });

  it('listen ... ssl: the handshake first, then the lookup, then the greeting (nginx\'s order)', async () => {
    dns.mode = { ptr: 'a.example.net' };
    const port = await start(`resolver 127.0.0.1:${dns.port};`, '2s', true);
    const order: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const client = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => {
        order.push(`handshake done, ${dns.asked.length} DNS questions`);
      });
      client.once('data', (greeting: Buffer) => {
        order.push(`greeting ${greeting.toString('latin1').trim()} after ${dns.asked.length} DNS questions`);
        client.destroy();
        resolve();
      });
      client.once('error', reject);
    });
    expect(order).toEqual(['handshake done, 0 DNS questions', 'greeting 220 mx.test ESMTP ready after 2 DNS questions']);
  });

  it('without a resolver nothing is asked and Client-Host is [UNAVAILABLE]', async () => {
    const port = await start('');
    expect(await clientHostSeen(port)).toBe('[UNAVAILABLE]');
    expect(dns.asked).toEqual([]);
  });
});
