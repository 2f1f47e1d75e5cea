import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { startProxy } from '../../src/server.js';
import { LineClient, serverConfig } from './fixtures.js';

describe('listen on port 0', () => {
  it('every listen with port 0 is a socket of its own on a free port, serving its own server (postern conformance without --target)', async () => {
    const servers = [serverConfig({ protocol: 'pop3' }), serverConfig({ protocol: 'imap' }), serverConfig({ protocol: 'pop3' })];
    const proxy = await startProxy({ file: 'test', servers, notices: [], workerProcesses: 1, workerConnections: 512 }, { logger: silentLogger() });
    try {
      const ports = proxy.listeners.map((l) => l.port);
      expect(new Set(ports).size).toBe(3);
      const greetings: Array<string | null> = [];
      for (const port of ports) {
        const client = await LineClient.connect(port);
        greetings.push(await client.line());
        client.close();
      }
      expect(greetings).toEqual(['+OK POP3 ready', '* OK IMAP4 ready', '+OK POP3 ready']);
    } finally {
      await proxy.close();
    }
  });
});
