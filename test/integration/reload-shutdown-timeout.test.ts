import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthOutcome } from '../../machines/types.js';
import type { MailConfig } from '../../src/config/types.js';
import { silentLogger } from '../../src/log.js';
import { startProxy } from '../../src/server.js';
import { fakeBackend, LineClient, serverConfig } from './fixtures.js';

/**
 * `worker_shutdown_timeout` with a reload in place (one process): sessions begun before the
 * reload are closed when it expires, as nginx's old worker closes its connections
 * (nginx-tests worker_shutdown_timeout_mail.t); later sessions and, without it, all go on.
 */
describe('reload in place and worker_shutdown_timeout', () => {
  let backend: Awaited<ReturnType<typeof fakeBackend>>;
  beforeAll(async () => {
    backend = await fakeBackend('imap');
  });
  afterAll(async () => {
    await backend.close();
  });

  const auth = { request: async (): Promise<AuthOutcome> => ({ status: 'ok', server: '127.0.0.1', port: backend.port }) };

  async function loggedIn(port: number, tag: string): Promise<LineClient> {
    const client = await LineClient.connect(port);
    expect(await client.line()).toBe('* OK IMAP4 ready');
    client.send(`${tag} LOGIN test@example.com secret\r\n`);
    expect(await client.line()).toBe(`${tag} OK login ok`);
    return client;
  }

  for (const timeoutMs of [200, undefined]) {
    it(timeoutMs === undefined ? 'without it, a relayed session outlives the reload' : 'a relayed session begun before the reload is closed at the timeout; one begun after is not', async () => {
      const server = serverConfig({ protocol: 'imap' });
      const config: MailConfig = { file: 'test', servers: [server], notices: [], workerProcesses: 1, workerConnections: 512 };
      const proxy = await startProxy(config, { logger: silentLogger(), authFor: () => auth });
      try {
        const port = proxy.listeners[0]!.port;
        const before = await loggedIn(port, 'a');
        // The same listen: the listener is kept, new connections get the new configuration.
        const next: MailConfig = { ...config, ...(timeoutMs === undefined ? {} : { workerShutdownTimeoutMs: timeoutMs }) };
        await proxy.reload(next);
        const after = await loggedIn(port, 'b');
        if (timeoutMs !== undefined) {
          expect(await before.line(5_000)).toBeNull();
        } else {
          await new Promise((r) => setTimeout(r, 400));
          before.send('c NOOP\r\n');
          expect(await before.line()).toBe('c OK NOOP relayed');
        }
        after.send('d NOOP\r\n');
        expect(await after.line()).toBe('d OK NOOP relayed');
        before.close();
        after.close();
      } finally {
        await proxy.close();
      }
    });
  }
});
