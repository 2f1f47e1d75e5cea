import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { startProxy } from '../../src/server.js';
import { freePorts } from '../e2e/harness/ports.js';
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

describe('one socket for a wildcard and the addresses of its port', () => {
  it('a connection is served by the server of the address it reached (nginx dispatch); a socket of its own by its server', async () => {
    const [port, own] = await freePorts(2);
    const listen = (host: string, at: number) => ({ ...serverConfig().listens[0]!, host, port: at, text: `${host}:${at}` });
    const servers = [
      serverConfig({ protocol: 'imap', listens: [listen('0.0.0.0', port!)] }),
      serverConfig({ protocol: 'pop3', listens: [listen('127.0.0.2', port!)] }),
      serverConfig({ protocol: 'imap', listens: [listen('127.0.0.1', own!)] }),
    ];
    const proxy = await startProxy({ file: 'test', servers, notices: [], workerProcesses: 1, workerConnections: 512 }, { logger: silentLogger() });
    try {
      const greeting = async (host: string, at: number) => {
        const client = await LineClient.connect(at, { host });
        try {
          return await client.line();
        } finally {
          client.close();
        }
      };
      expect(await greeting('127.0.0.2', port!)).toBe('+OK POP3 ready');
      expect(await greeting('127.0.0.1', port!)).toBe('* OK IMAP4 ready');
      expect(await greeting('127.0.0.1', own!)).toBe('* OK IMAP4 ready');
    } finally {
      await proxy.close();
    }
  });
});
