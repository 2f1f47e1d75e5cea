/**
 * The runtime glue between login and relay, in process (real sockets, Postern's runtime, a
 * fake auth service and a backend that records every byte): what a client pipelines behind its
 * login reaches the backend first; the relay copies every byte value unchanged both ways,
 * however the stream is cut; `proxy_timeout` ends an idle relay silently, with nginx's log
 * reason. POP3, IMAP and SMTP; plaintext, `listen ... ssl` and STARTTLS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config/types.js';
import { silentLogger, type Logger } from '../../src/log.js';
import {
  b64,
  capturingLogger,
  connectAndGreet,
  everyByte,
  loggedInLine,
  loginBackend,
  PASSWORD,
  proxyFor,
  randomSplits,
  readEhlo,
  seeded,
  transportSettings,
  until,
  USER,
  writePieces,
  type BackendConnection,
  type ByteClient,
  type LoginBackend,
  type Protocol,
  type Transport,
} from './wire.js';

const PROTOCOLS: Protocol[] = ['pop3', 'imap', 'smtp'];
const TRANSPORTS: Transport[] = ['plaintext', 'implicit TLS', 'STARTTLS'];

/** One seed per run, in every failure message: a failing split can be replayed with POSTERN_TEST_SEED. */
const SEED = Number(process.env.POSTERN_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** The login command (in one write with `tail`) and the lines the client gets for it. */
function login(protocol: Protocol): { command: string; replies: string[] } {
  switch (protocol) {
    case 'pop3':
      return { command: `USER ${USER}\r\nPASS ${PASSWORD}\r\n`, replies: ['+OK', loggedInLine('pop3')] };
    case 'imap':
      return { command: `a1 LOGIN ${USER} ${PASSWORD}\r\n`, replies: [loggedInLine('imap', 'a1')] };
    case 'smtp':
      return { command: `AUTH PLAIN ${b64(`\0${USER}\0${PASSWORD}`)}\r\n`, replies: [loggedInLine('smtp')] };
  }
}

/** Where two buffers first differ, for a failure message that says what went wrong. */
function firstDifference(got: Buffer, want: Buffer): string {
  const n = Math.min(got.length, want.length);
  for (let i = 0; i < n; i++) {
    if (got[i] !== want[i]) return `byte ${i}: got 0x${got[i]!.toString(16)}, want 0x${want[i]!.toString(16)} (lengths ${got.length}/${want.length})`;
  }
  return got.length === want.length ? 'equal' : `lengths differ: got ${got.length}, want ${want.length}`;
}

describe('relay glue (in process, fake auth service and backend)', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function setUp(
    protocol: Protocol,
    transport: Transport,
    options: { settings?: Partial<ServerConfig>; logger?: Logger; smtpLoginLines?: number } = {},
  ): Promise<{ backend: LoginBackend; client: ByteClient; requests: Awaited<ReturnType<typeof proxyFor>>['requests'] }> {
    const backend = await loginBackend(protocol, options.smtpLoginLines);
    cleanup.push(() => backend.close());
    const { proxy, port, requests } = await proxyFor(protocol, backend.port, { ...transportSettings(transport), ...options.settings }, options.logger ?? silentLogger());
    cleanup.push(() => proxy.close());
    const client = await connectAndGreet(protocol, port, transport);
    cleanup.push(() => client.close());
    if (protocol === 'smtp') {
      client.send('EHLO client.test\r\n');
      await readEhlo(client);
    }
    return { backend, client, requests };
  }

  /** Logs in with `tail` pipelined behind the login command in the same write. */
  async function logIn(protocol: Protocol, client: ByteClient, tail: Buffer = Buffer.alloc(0)): Promise<void> {
    const { command, replies } = login(protocol);
    client.send(Buffer.concat([Buffer.from(command, 'latin1'), tail]));
    expect(await client.lines(replies.length)).toEqual(replies);
  }

  const onlyConnection = async (backend: LoginBackend): Promise<BackendConnection> => {
    await until('the backend connection', () => backend.connections.length === 1);
    return backend.connections[0]!;
  };

  describe('bytes pipelined behind the login reach the backend, unchanged and first', () => {
    const NEXT: Record<Protocol, string> = { pop3: 'STAT\r\n', imap: 'a2 SELECT INBOX\r\n', smtp: 'MAIL FROM:<a@example.com>\r\n' };
    for (const protocol of PROTOCOLS) {
      for (const transport of TRANSPORTS) {
        it(`${protocol}, ${transport}: the next command and every byte value, in the login's write`, async () => {
          const { backend, client } = await setUp(protocol, transport);
          const random = seeded(SEED);
          const tail = Buffer.concat([Buffer.from(NEXT[protocol], 'latin1'), everyByte(random, 4)]);
          await logIn(protocol, client, tail);
          const connection = await onlyConnection(backend);
          await until(`the ${tail.length} pipelined bytes at the backend (seed ${SEED})`, () => connection.relayed.length >= tail.length);
          expect(firstDifference(connection.relayed, tail), `seed ${SEED}`).toBe('equal');
        });
      }
    }

    for (const transport of TRANSPORTS) {
      it(`smtp, ${transport}: with smtp_auth none, what follows RCPT (DATA and every byte value) reaches the backend after MAIL and RCPT`, async () => {
        const { backend, client, requests } = await setUp('smtp', transport, { smtpLoginLines: 5 });
        const tail = Buffer.concat([Buffer.from('DATA\r\n', 'latin1'), everyByte(seeded(SEED), 4)]);
        client.send(Buffer.concat([Buffer.from('MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n', 'latin1'), tail]));
        // MAIL is answered by the proxy, RCPT by the backend.
        expect(await client.lines(2)).toEqual(['250 2.0.0 OK', '250 2.1.5 rcpt ok']);
        expect(requests.map((r) => r.method)).toEqual(['none']);
        const connection = await onlyConnection(backend);
        expect(connection.loginLines.slice(3)).toEqual(['MAIL FROM:<a@example.com>', 'RCPT TO:<b@example.com>']);
        await until(`the ${tail.length} pipelined bytes at the backend (seed ${SEED})`, () => connection.relayed.length >= tail.length);
        expect(firstDifference(connection.relayed, tail), `seed ${SEED}`).toBe('equal');
      });
    }
  });

  describe('the relay copies every byte value 0..255 unchanged, both ways, cut at random points', () => {
    for (const protocol of PROTOCOLS) {
      for (const transport of TRANSPORTS) {
        it(`${protocol}, ${transport}`, async () => {
          const { backend, client } = await setUp(protocol, transport);
          await logIn(protocol, client);
          const connection = await onlyConnection(backend);
          const random = seeded(SEED ^ (PROTOCOLS.indexOf(protocol) * 16 + TRANSPORTS.indexOf(transport)));

          // Client to backend: 64 KiB, every byte value 256 times, in random pieces.
          const up = everyByte(random, 256);
          await writePieces(client.socket, randomSplits(up, random, 4096));
          await until(`${up.length} bytes at the backend (seed ${SEED})`, () => connection.relayed.length >= up.length, 15_000);
          expect(firstDifference(connection.relayed, up), `client to backend, seed ${SEED}`).toBe('equal');

          // Backend to client: the same again, other pieces.
          const down = everyByte(random, 256);
          await writePieces(connection.socket, randomSplits(down, random, 4096));
          const got = await client.bytes(down.length, 15_000);
          expect(firstDifference(got, down), `backend to client, seed ${SEED}`).toBe('equal');
          // Nothing more either way.
          expect(connection.relayed.length).toBe(up.length);
        });
      }
    }
  });

  describe('proxy_timeout ends an idle relay', () => {
    for (const protocol of PROTOCOLS) {
      for (const transport of TRANSPORTS) {
        it(`${protocol}, ${transport}: both sides closed, nothing sent to the client, logged nginx's "client timed out (110: Connection timed out) while proxying"`, async () => {
          const { logger, lines } = capturingLogger();
          const { backend, client } = await setUp(protocol, transport, { settings: { proxyTimeoutMs: 300 }, logger });
          await logIn(protocol, client);
          const connection = await onlyConnection(backend);
          // Idle from here on: the close comes from proxy_timeout alone (the failure is the bounded wait).
          expect(await client.closedWith(10_000)).toBe('');
          await until('the backend connection to close', () => connection.closed);
          expect(connection.relayed.length).toBe(0);
          const ends = lines.filter((l) => /timed out|session done|closed connection/.test(String(l.msg)));
          expect(ends.map((l) => [l.msg, l.action, l.client])).toEqual([['client timed out (110: Connection timed out)', 'proxying', '127.0.0.1']]);
        });
      }
    }
  });
});
