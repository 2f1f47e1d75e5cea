import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthOutcome } from '../../machines/types.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { LineClient, serverConfig } from './fixtures.js';

const plain = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`, 'latin1').toString('base64');

/** A backend that accepts the connection and then says nothing, or greets and hangs up. */
async function backend(behaviour: 'silent' | 'greetThenClose'): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    if (behaviour === 'greetThenClose') {
      socket.write('220 fake esmtp ready\r\n');
      socket.once('data', () => socket.end());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('SMTP backend dialogue failures', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function proxyTo(port: number, timeoutMs: number): Promise<number> {
    const auth = { request: async (): Promise<AuthOutcome> => ({ status: 'ok', server: '127.0.0.1', port }) };
    const proxy: RunningProxy = await startProxy(
      { file: 'test', servers: [serverConfig({ protocol: 'smtp', timeoutMs, smtpAuth: ['plain', 'login'] })], notices: [], workerProcesses: 1, workerConnections: 512 },
      { logger: silentLogger(), authFor: () => auth },
    );
    cleanup.push(() => proxy.close());
    return proxy.listeners[0]!.port;
  }

  it('a backend that never greets: after `timeout` the client gets 451 4.3.2 and a close', async () => {
    const silent = await backend('silent');
    cleanup.push(silent.close);
    const client = await LineClient.connect(await proxyTo(silent.port, 400));
    expect(await client.line()).toBe('220 mx.test ESMTP ready');
    const started = Date.now();
    client.send(`EHLO client.example\r\nAUTH PLAIN ${plain('test@example.com', 'secret')}\r\n`);
    expect(await client.lines(3)).toEqual(['250-mx.test', '250 AUTH PLAIN LOGIN', '451 4.3.2 Internal server error']);
    expect(await client.line()).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });

  it('a backend that hangs up mid-dialogue: 451 4.3.2 and a close, at once', async () => {
    const rude = await backend('greetThenClose');
    cleanup.push(rude.close);
    const client = await LineClient.connect(await proxyTo(rude.port, 60_000));
    await client.line();
    client.send(`AUTH PLAIN ${plain('test@example.com', 'secret')}\r\n`);
    expect(await client.lines(2)).toEqual(['451 4.3.2 Internal server error', null]);
  });
});
