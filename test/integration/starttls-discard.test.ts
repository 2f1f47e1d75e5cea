/**
 * Bytes a client pipelines behind STARTTLS (IMAP, SMTP) or STLS (POP3) in the same write are
 * dropped before the handshake (CVE-2011-0411 class): nothing a man in the middle
 * appends to the plaintext command may be read as if it had come over TLS. Here the appended
 * bytes are a complete login; after the handshake the proxy must answer only what the client
 * sends over TLS, and the auth service must only ever see the client's own login, marked TLS.
 * In process: real sockets, Postern's runtime, a fake auth service and backend.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningProxy } from '../../src/server.js';
import {
  b64,
  ByteClient,
  capturingLogger,
  loggedInLine,
  loginBackend,
  PASSWORD,
  proxyFor,
  readEhlo,
  transportSettings,
  USER,
  type LoginBackend,
  type Protocol,
} from './wire.js';

interface Case {
  protocol: Protocol;
  starttls: string;
  starttlsOk: string;
  /** A whole login an attacker appends to the client's STARTTLS. */
  injected: string;
  /** What the client asks over TLS, and the exact lines of the answer (after TLS: no STARTTLS offered). */
  ask: string;
  answer: string[];
  /** The client's own login over TLS, and what it gets (the last line is the backend's, or SMTP's 235). */
  login: string;
  loggedIn: string[];
}

const CASES: Case[] = [
  {
    protocol: 'pop3',
    starttls: 'STLS\r\n',
    starttlsOk: '+OK',
    injected: 'USER injected@example.com\r\nPASS injected\r\n',
    ask: 'CAPA\r\n',
    answer: ['+OK Capability list follows', 'TOP', 'USER', 'UIDL', 'SASL PLAIN LOGIN', '.'],
    login: `USER ${USER}\r\nPASS ${PASSWORD}\r\n`,
    loggedIn: ['+OK', loggedInLine('pop3')],
  },
  {
    protocol: 'imap',
    starttls: 's1 STARTTLS\r\n',
    starttlsOk: 's1 OK completed',
    injected: 'x1 LOGIN injected@example.com injected\r\n',
    ask: 'c1 CAPABILITY\r\n',
    answer: ['* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN', 'c1 OK completed'],
    login: `a1 LOGIN ${USER} ${PASSWORD}\r\n`,
    loggedIn: [loggedInLine('imap', 'a1')],
  },
  {
    protocol: 'smtp',
    starttls: 'STARTTLS\r\n',
    starttlsOk: '220 2.0.0 Start TLS',
    injected: `EHLO injected.test\r\nAUTH PLAIN ${b64(`\0injected@example.com\0injected`)}\r\n`,
    ask: 'EHLO client.test\r\n',
    answer: ['250-mx.test', '250 AUTH PLAIN LOGIN'],
    login: `AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}\r\n`,
    loggedIn: [loggedInLine('smtp')],
  },
];

describe('STARTTLS/STLS drops what was pipelined behind it (in process)', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  for (const c of CASES) {
    it(`${c.protocol}: a login appended to ${c.starttls.trim()} is discarded (logged at debug with its size); over TLS only the client's own commands are answered`, async () => {
      const backend: LoginBackend = await loginBackend(c.protocol);
      cleanup.push(() => backend.close());
      // The discarded bytes are a debug line (nginx drops them without a word).
      const { logger, lines } = capturingLogger('debug');
      const { proxy, port, requests } = await proxyFor(c.protocol, backend.port, transportSettings('STARTTLS'), logger);
      cleanup.push(() => (proxy as RunningProxy).close());
      const client = await ByteClient.connect(port);
      cleanup.push(() => client.close());
      await client.line();
      if (c.protocol === 'smtp') {
        client.send('EHLO client.test\r\n');
        await readEhlo(client);
      }

      // One write: the STARTTLS command and the injected login behind it.
      client.send(c.starttls + c.injected);
      expect(await client.line()).toBe(c.starttlsOk);
      await client.startTls();

      client.send(c.ask);
      expect(await client.lines(c.answer.length)).toEqual(c.answer);
      client.send(c.login);
      expect(await client.lines(c.loggedIn.length)).toEqual(c.loggedIn);

      // The auth service saw one request: the client's login, over TLS.
      expect(requests.map((r) => [r.user, r.tls !== undefined])).toEqual([[USER, true]]);
      expect(backend.connections).toHaveLength(1);
      expect(backend.connections[0]!.loginLines.join('\n')).not.toContain('injected');
      const discarded = lines.filter((l) => l.msg === 'discarded input pipelined after STARTTLS');
      expect(discarded.map((l) => l.bytes)).toEqual([c.injected.length]);
    });
  }
});
