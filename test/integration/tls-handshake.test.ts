import net from 'node:net';
import tls from 'node:tls';
import { Duplex, Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthOutcome } from '../../machines/types.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { serverConfig, testCertificate } from './fixtures.js';

/** A logger whose lines the test can read. */
function recordingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

const neverAuth = { request: async (): Promise<AuthOutcome> => ({ status: 'fail', text: 'no' }) };

/** Resolves with everything the server sent once it closes the connection (or rejects after `limitMs`). */
function untilClosed(socket: net.Socket, limitMs: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not close the connection')), limitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** The first flight of a real TLS client, captured from Node's own client. */
async function clientHello(): Promise<Buffer> {
  const capture = net.createServer();
  await new Promise<void>((resolve) => capture.listen(0, '127.0.0.1', resolve));
  const port = (capture.address() as net.AddressInfo).port;
  const hello = new Promise<Buffer>((resolve) => capture.once('connection', (socket) => socket.once('data', (d: Buffer) => { resolve(d); socket.destroy(); })));
  const client = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  client.on('error', () => undefined);
  const bytes = await hello;
  client.destroy();
  capture.close();
  return bytes;
}

describe('implicit-TLS handshake faults: a clean close and a log line, never a hang', () => {
  const proxies: RunningProxy[] = [];
  afterEach(async () => {
    for (const proxy of proxies.splice(0)) await proxy.close();
  });

  async function start(timeoutMs: number) {
    const { certificate, key } = testCertificate();
    const base = serverConfig({ protocol: 'imap', timeoutMs });
    const server = {
      ...base,
      listens: [{ ...base.listens[0]!, ssl: true }],
      ssl: { ...base.ssl, certificates: [certificate], certificateKeys: [key] },
    };
    const { logger, lines } = recordingLogger();
    const proxy = await startProxy({ file: 'test', servers: [server], notices: [], workerProcesses: 1, workerConnections: 512 }, { logger, authFor: () => neverAuth });
    proxies.push(proxy);
    return { port: proxy.listeners[0]!.port, lines };
  }

  it('garbage instead of a ClientHello: closed without a greeting, the failure logged', async () => {
    const { port, lines } = await start(5_000);
    const socket = net.connect(port, '127.0.0.1');
    const received = untilClosed(socket, 4_000);
    socket.write('GET / HTTP/1.0\r\n\r\n');
    const bytes = await received;
    expect(bytes.toString('latin1')).not.toContain('OK');
    await expect.poll(() => lines.map((l) => [l.msg, l.action])).toContainEqual([expect.stringMatching(/^SSL_do_handshake\(\) failed \(SSL: error:[0-9A-F]{8}:SSL routines::/), 'SSL handshaking']);
  });

  it('a client that stalls mid-handshake is closed after `timeout`', async () => {
    const { port, lines } = await start(300);
    const hello = await clientHello();
    const socket = net.connect(port, '127.0.0.1');
    const received = untilClosed(socket, 4_000);
    socket.write(hello.subarray(0, 20));
    await received;
    await expect.poll(() => lines.map((l) => l.msg)).toContainEqual(expect.stringMatching(/^client timed out/));
  });

  it('a ClientHello split into single bytes still completes the handshake and gets the greeting', async () => {
    const { port } = await start(5_000);
    const raw = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => raw.once('connect', resolve));
    // A TLS client whose every outgoing byte is written to the socket on its own.
    const client = tls.connect({ socket: trickle(raw), rejectUnauthorized: false });
    const greeting = await new Promise<string>((resolve, reject) => {
      client.once('data', (d: Buffer) => resolve(d.toString('latin1')));
      client.once('error', reject);
    });
    expect(greeting).toBe('* OK IMAP4 ready\r\n');
    client.destroy();
  });

  it('a client offering only a foreign ALPN protocol is refused with an alert, as nginx does', async () => {
    const { port } = await start(5_000);
    const refused = new Promise<string>((resolve) => {
      const client = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
      client.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      client.once('data', () => resolve('greeted'));
    });
    expect(await refused).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
    const accepted = await new Promise<string | false | null>((resolve, reject) => {
      const client = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['h2', 'imap'] });
      client.once('data', () => {
        resolve(client.alpnProtocol);
        client.destroy();
      });
      client.once('error', reject);
    });
    expect(accepted).toBe('imap');
  });
});

/**
 * A duplex between a TLS client and `socket` that writes each outgoing byte on its own, a turn of
 * the event loop apart (a JS stream, so Node's TLS client writes through it byte by byte).
 */
function trickle(socket: net.Socket): Duplex {
  const duplex = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      let at = 0;
      const next = () => {
        if (at >= chunk.length) return done();
        socket.write(chunk.subarray(at, at + 1), () => setImmediate(next));
        at += 1;
      };
      next();
    },
  });
  socket.on('data', (data: Buffer) => {
    if (!duplex.push(data)) socket.pause();
  });
  socket.on('end', () => duplex.push(null));
  return duplex;
}
