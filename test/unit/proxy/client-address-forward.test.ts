/**
 * `postern_proxy_forward` and `proxy_protocol` in the backend login, against scripted backends:
 * what each backend receives, in order (test/e2e/client-address-forward.test.ts has the real Dovecot).
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { loginToBackend } from '../../../src/proxy/backend-login.js';
import { Secret } from '../../../src/secret.js';
import type { ProxySslConfig } from '../../../src/config/types.js';
import { generateCert, removeDir, startScriptedBackend, type ScriptedBackend, type ScriptedConnection } from '../../e2e/harness/index.js';

const FACTS = { clientIp: '192.0.2.7', clientPort: 51000, localIp: '127.0.0.1', localPort: 10143, sessionId: 'AAAABBBBCCCCDDDD' };
const ID_LINE = 'P0 ID ("x-session-id" "AAAABBBBCCCCDDDD" "x-originating-ip" "192.0.2.7" "x-originating-port" "51000" "x-connected-ip" "127.0.0.1" "x-connected-port" "10143")';

const backends: ScriptedBackend[] = [];
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

async function backend(script: (c: ScriptedConnection) => Promise<void>): Promise<ScriptedBackend> {
  const started = await startScriptedBackend(script);
  backends.push(started);
  return started;
}

const login = (protocol: 'imap' | 'pop3', port: number, extra: { forward?: typeof FACTS; proxyHeader?: Buffer; proxySsl?: ProxySslConfig }) =>
  loginToBackend(protocol, { server: '127.0.0.1', port, user: 'alice', password: new Secret('secret'), ...(protocol === 'imap' ? { tag: 'a1' } : {}) }, {
    bufferSize: 4096,
    signal: new AbortController().signal,
    ...extra,
  });

/** An IMAP backend: greeting, then every command answered until LOGIN's password. */
const imapBackend = (greeting: string, idReply: string) => async (c: ScriptedConnection) => {
  await c.write(greeting);
  for (;;) {
    const line = await c.line();
    if (line.startsWith('P0 ID')) await c.write(idReply);
    else if (line.endsWith('}')) await c.write('+ go\r\n');
    else return void (await c.write('a1 OK logged in\r\n'));
  }
};

describe('postern_proxy_forward', () => {
  it('IMAP: ID with Dovecot\'s keys before LOGIN when the greeting lists ID', async () => {
    const b = await backend(imapBackend('* OK [CAPABILITY IMAP4rev1 ID LITERAL+] ready\r\n', '* ID NIL\r\nP0 OK ID completed.\r\n'));
    const session = await login('imap', b.port, { forward: FACTS });
    expect(session.firstReply.toString()).toBe('a1 OK logged in\r\n');
    session.socket.destroy();
    expect(b.lines).toEqual([ID_LINE, 'a1 LOGIN {5}', 'alice {6}', 'secret']);
  });

  it('IMAP: a refused ID does not stop the login', async () => {
    const b = await backend(imapBackend('* OK [CAPABILITY IMAP4rev1 ID] ready\r\n', 'P0 BAD no\r\n'));
    const session = await login('imap', b.port, { forward: FACTS });
    session.socket.destroy();
    expect(b.lines).toEqual([ID_LINE, 'a1 LOGIN {5}', 'alice {6}', 'secret']);
  });

  it('IMAP: no ID without it in the greeting (IDLE and a trailing text do not count)', async () => {
    const b = await backend(imapBackend('* OK [CAPABILITY IMAP4rev1 IDLE] ready for ID\r\n', ''));
    const session = await login('imap', b.port, { forward: FACTS });
    session.socket.destroy();
    expect(b.lines).toEqual(['a1 LOGIN {5}', 'alice {6}', 'secret']);
  });

  it.each([
    ['+OK [XCLIENT] Dovecot ready.\r\n', ['XCLIENT ADDR=192.0.2.7 PORT=51000 SESSION=AAAABBBBCCCCDDDD', 'USER alice', 'PASS secret']],
    ['+OK Dovecot ready.\r\n', ['USER alice', 'PASS secret']],
  ])('POP3 greeting %j', async (greeting, expected) => {
    const b = await backend(async (c) => {
      await c.write(greeting);
      for (let i = 0; i < expected.length; i++) {
        await c.line();
        await c.write('+OK\r\n');
      }
    });
    const session = await login('pop3', b.port, { forward: FACTS });
    session.socket.destroy();
    expect(b.lines).toEqual(expected);
  });
});

describe('proxy_protocol to the backend', () => {
  it('the PROXY line comes first, before the greeting is read', async () => {
    const b = await backend(async (c) => {
      // The line is there before the backend says anything.
      expect(await c.line()).toBe('PROXY TCP4 192.0.2.7 127.0.0.1 51000 10143');
      await c.write('+OK ready\r\n');
      await c.line();
      await c.write('+OK\r\n');
      await c.line();
      await c.write('+OK\r\n');
    });
    const session = await login('pop3', b.port, { proxyHeader: Buffer.from('PROXY TCP4 192.0.2.7 127.0.0.1 51000 10143\r\n') });
    session.socket.destroy();
    expect(b.lines).toEqual(['PROXY TCP4 192.0.2.7 127.0.0.1 51000 10143', 'USER alice', 'PASS secret']);
  });
});

describe('proxy_protocol with postern_proxy_ssl on', () => {
  it('the PROXY line goes in plaintext before the TLS handshake, the login over TLS', async () => {
    const cert = await generateCert();
    const seen: string[] = [];
    const tlsServer = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (secure) => {
      secure.write('+OK ready\r\n');
      secure.on('data', (chunk: Buffer) => {
        seen.push(`tls: ${chunk.toString('latin1').trim()}`);
        secure.write('+OK\r\n');
      });
    });
    // Reads the PROXY line off the TCP connection, then hands the rest to TLS.
    const server = net.createServer((socket) => {
      let buffered = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf('\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.pause();
        seen.push(`plain: ${buffered.subarray(0, end).toString('latin1')}`);
        socket.unshift(buffered.subarray(end + 2));
        tlsServer.emit('connection', socket);
      };
      socket.on('data', onData);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const proxySsl: ProxySslConfig = { mode: 'on', verify: false, serverName: false, protocols: ['TLSv1.2', 'TLSv1.3'], ciphers: 'DEFAULT', sessionReuse: false, where: {} };
      const session = await login('pop3', (server.address() as net.AddressInfo).port, { proxyHeader: Buffer.from('PROXY TCP4 192.0.2.7 127.0.0.1 51000 10995\r\n'), proxySsl });
      session.socket.destroy();
      expect(seen).toEqual(['plain: PROXY TCP4 192.0.2.7 127.0.0.1 51000 10995', 'tls: USER alice', 'tls: PASS secret']);
    } finally {
      server.close();
      await removeDir(cert.dir);
    }
  });

  it('a backend that refuses the connection fails the login as without the header', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const proxySsl: ProxySslConfig = { mode: 'on', verify: false, serverName: false, protocols: ['TLSv1.2', 'TLSv1.3'], ciphers: 'DEFAULT', sessionReuse: false, where: {} };
    // nginx's words (the upstream is in the session's log context).
    await expect(login('pop3', port, { proxyHeader: Buffer.from('PROXY UNKNOWN\r\n'), proxySsl })).rejects.toThrow(
      'recv() failed (111: Connection refused) while reading response from upstream',
    );
  });
});
