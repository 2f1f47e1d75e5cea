/**
 * Regression (found by test/fuzz/: `proxy.close()` took the whole `timeout` in every case with a
 * refused connection): a connection refused by `postern_limit_conn_per_ip` was never read, so the
 * client's close went unseen and its socket stayed open until `timeout` (60 s by default), outside
 * `worker_connections` and the per-address count; and `close()` ("every connection now") waited
 * for it. Resources are counted, no duration is asserted but a generous bound against a 60 s timeout.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import { silentLogger } from '../../../src/log.js';
import { startProxy, type RunningProxy } from '../../../src/server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

async function start(): Promise<RunningProxy> {
  const config = parseConfigText(
    'mail { auth_http 127.0.0.1:9/auth; timeout 60s; server { listen 127.0.0.1:1; protocol pop3; postern_limit_conn_per_ip 1; } }',
    '/test/postern.conf',
    { baseDir: '/' },
  );
  for (const server of config.servers) server.listens = server.listens.map((listen) => ({ ...listen, port: 0, text: '127.0.0.1:0' }));
  return startProxy(config, { logger: silentLogger() });
}

/** A client that sends `input` at once and collects what it gets until the server closes. */
function client(port: number, input = '', allowHalfOpen = false): { socket: net.Socket; received: () => string; closed: Promise<void> } {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen });
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.on('error', () => undefined);
  if (input !== '') socket.write(input);
  return { socket, received: () => text, closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

async function until(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await sleep(10);
  return condition();
}

describe('a connection refused by postern_limit_conn_per_ip', () => {
  let proxy: RunningProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  it('is closed on the server as soon as its client leaves, pipelined input or not', async () => {
    proxy = await start();
    const port = proxy.listeners[0]!.port;
    const before = sockets();
    const first = client(port);
    await until(() => first.received().includes('\r\n'), 5_000);
    expect(first.received()).toBe('+OK POP3 ready\r\n');
    // The first connection's two ends.
    expect(await until(() => sockets() === before + 2, 5_000)).toBe(true);

    for (const input of ['', 'USER a\r\nPASS b\r\n']) {
      const refused = client(port, input);
      await refused.closed;
      expect(refused.received()).toBe('-ERR internal server error\r\n');
      // Only the first connection is left: the refused one's server end went with its client.
      expect(await until(() => sockets() === before + 2, 5_000), `open sockets: ${sockets() - before}`).toBe(true);
    }
    first.socket.destroy();
  });

  it('is closed by close() even while its client stays', async () => {
    proxy = await start();
    const running = proxy;
    const port = proxy.listeners[0]!.port;
    const first = client(port);
    await until(() => first.received().includes('\r\n'), 5_000);
    // The client does not close its side after the server's line: close() must not wait for `timeout` (60 s).
    const refused = client(port, 'CAPA\r\n', true);
    await until(() => refused.received().includes('\r\n'), 5_000);
    const outcome = await Promise.race([running.close().then(() => 'closed'), sleep(10_000).then(() => 'still waiting')]);
    expect(outcome).toBe('closed');
    proxy = undefined;
    await first.closed;
    // Half-open by choice, the refused client learns of the close only when it writes again.
    refused.socket.destroy();
  });
});
