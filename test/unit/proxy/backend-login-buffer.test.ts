/**
 * `proxy_buffer` bounds the backend login (issue 10, item 3): every reply must fit in the buffer,
 * as in nginx's ngx_mail_proxy_read_response, and Postern never takes more than about one buffer
 * of the backend's bytes off the socket, whatever the backend streams (counted in bytes read, not
 * time). Fake backends on loopback; test/e2e/backend-buffer.test.ts plays such backends behind
 * nginx 1.22.1 too.
 */
import net from 'node:net';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BackendTarget } from '../../../machines/types.js';
import type { Protocol } from '../../../src/config/types.js';
import { BackendLoginError, loginToBackend, type BackendSession } from '../../../src/proxy/backend-login.js';
import { relay } from '../../../src/proxy/relay.js';
import { Secret } from '../../../src/secret.js';
import { startScriptedBackend, type ScriptedBackend, type ScriptedConnection } from '../../e2e/harness/index.js';

/** nginx's default `proxy_buffer`: one page. */
const BUFFER = 4096;
/**
 * What may sit in Node's socket beyond the reply buffer when it pauses: one read (up to 64 KB)
 * and one more already under way. The streams below are megabytes long.
 */
const READ_AHEAD = 2 * 65_536;

const backends: ScriptedBackend[] = [];
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

/** Every socket loginToBackend opens, to read how many bytes it took off the backend. */
const opened: net.Socket[] = [];
beforeEach(() => {
  const connect = net.connect.bind(net) as (options: net.NetConnectOpts) => net.Socket;
  vi.spyOn(net, 'connect').mockImplementation(((options: net.NetConnectOpts) => {
    const socket = connect(options);
    opened.push(socket);
    return socket;
  }) as typeof net.connect);
});
afterEach(() => {
  vi.restoreAllMocks();
  opened.length = 0;
});
const bytesTaken = (): number => {
  const socket = opened.at(-1);
  if (socket === undefined) throw new Error('loginToBackend opened no socket through net.connect');
  return socket.bytesRead;
};

async function backend(script: (connection: ScriptedConnection) => Promise<void>): Promise<ScriptedBackend> {
  const started = await startScriptedBackend(script);
  backends.push(started);
  return started;
}

const target = (protocol: Protocol, port: number): BackendTarget => ({
  server: '127.0.0.1',
  port,
  user: 'alice',
  password: new Secret('s3cret'),
  ...(protocol === 'imap' ? { tag: 'a1' } : {}),
  ...(protocol === 'smtp'
    ? {
        smtp: {
          serverName: 'mx.test',
          helo: 'client.example',
          esmtp: true,
          xclient: false,
          proxySmtpAuth: false,
          clientIp: '192.0.2.7',
          clientHost: '[UNAVAILABLE]',
        },
      }
    : {}),
});

const login = (protocol: Protocol, port: number): Promise<BackendSession> =>
  loginToBackend(protocol, target(protocol, port), { bufferSize: BUFFER, signal: new AbortController().signal });

/** The failure a login ends with. */
async function failure(protocol: Protocol, port: number): Promise<BackendLoginError> {
  const error: unknown = await login(protocol, port).then(
    (session) => {
      session.socket.destroy();
      throw new Error('the login succeeded');
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(BackendLoginError);
  return error as BackendLoginError;
}

/** nginx's log line: the buffer's first bytes (never more than an error line holds). */
const tooLong = (buffered: string) =>
  `upstream sent too long response line: ${JSON.stringify(buffered.slice(0, 2048))} while reading response from upstream`;

/** A reply of exactly `size` bytes: `head`, filler, `tail` (which ends in CRLF). */
const sized = (head: string, size: number, tail = '\r\n') => head + 'x'.repeat(size - head.length - tail.length) + tail;

const GREETING = { pop3: '+OK ', imap: '* OK ', smtp: '220 ' } as const;

describe('a reply longer than proxy_buffer', () => {
  it.each(['pop3', 'imap', 'smtp'] as const)('%s: a 64 KB greeting line is too long; nothing is sent to the backend', async (protocol) => {
    const greeting = sized(GREETING[protocol], 65_536);
    const b = await backend(async (c) => {
      await c.write(greeting);
      await c.line();
    });
    const error = await failure(protocol, b.port);
    expect(error.message).toBe(tooLong(greeting));
    expect(error.passthrough).toBeUndefined();
    expect(b.lines).toEqual([]);
    expect(bytesTaken()).toBeLessThanOrEqual(BUFFER + READ_AHEAD);
  });

  it.each(['pop3', 'imap', 'smtp'] as const)('%s: one byte over the buffer is too long', async (protocol) => {
    const greeting = sized(GREETING[protocol], BUFFER + 1);
    const b = await backend(async (c) => {
      await c.write(greeting);
      await c.line();
    });
    expect((await failure(protocol, b.port)).message).toBe(tooLong(greeting));
  });

  it('POP3: a 64 KB +OK reply to PASS is too long, not relayed to the client', async () => {
    const b = await backend(async (c) => {
      await c.write('+OK hello\r\n');
      await c.line();
      await c.write('+OK\r\n');
      await c.line();
      await c.write(sized('+OK ', 65_536));
      await c.line();
    });
    expect((await failure('pop3', b.port)).message).toMatch(/^upstream sent too long response line: "\+OK xxx/);
    expect(b.lines).toEqual(['USER alice', 'PASS s3cret']);
  });

  it('POP3: a line that never ends is too long once the buffer is full', async () => {
    const b = await backend(async (c) => {
      await c.write('+OK ');
      await c.endless('x');
    });
    const error = await failure('pop3', b.port);
    expect(error.message).toBe(tooLong(`+OK ${'x'.repeat(BUFFER)}`));
    expect(bytesTaken()).toBeLessThanOrEqual(BUFFER + READ_AHEAD);
  });

  it('IMAP: an untagged line that never ends before the tagged OK is too long', async () => {
    const b = await backend(async (c) => {
      await c.write('* OK ready\r\n');
      await c.line();
      await c.write('+ go\r\n');
      await c.line();
      await c.write('+ go\r\n');
      await c.line();
      await c.write('* CAPABILITY IMAP4rev1 ');
      await c.endless('X');
    });
    expect((await failure('imap', b.port)).message).toMatch(/^upstream sent too long response line: "\* CAPABILITY IMAP4rev1 XXX/);
    expect(bytesTaken()).toBeLessThanOrEqual(BUFFER + READ_AHEAD);
  });
});

describe('an endless multi-line reply', () => {
  // 16-byte lines fill the buffer exactly at a line end (nginx fails that silently); 18-byte
  // lines cross it mid-line (nginx: too long). Postern says "too long" for both.
  it.each([
    ['220-greetings!\r\n', 'the greeting, lines that end at the buffer end'],
    ['220-greetings, x\r\n', 'the greeting, a line crossing the buffer end'],
  ])('SMTP %j: %s', async (unit) => {
    expect(BUFFER % unit.length === 0).toBe(unit.length === 16);
    const b = await backend((c) => c.endless(unit));
    const error = await failure('smtp', b.port);
    expect(error.message).toBe(tooLong(unit.repeat(Math.ceil(BUFFER / unit.length)).slice(0, BUFFER - 1)));
    expect(b.lines).toEqual([]);
    expect(bytesTaken()).toBeLessThanOrEqual(BUFFER + READ_AHEAD);
  });

  it('SMTP: endless 250- lines after EHLO', async () => {
    const b = await backend(async (c) => {
      await c.write('220 ready\r\n');
      await c.line();
      await c.endless('250-PIPELINING x\r\n');
    });
    expect((await failure('smtp', b.port)).message).toMatch(/^upstream sent too long response line: "250-PIPELINING x\\r\\n250-/);
    expect(b.lines).toEqual(['EHLO mx.test']);
    expect(bytesTaken()).toBeLessThanOrEqual(BUFFER + READ_AHEAD);
  });

  // As in nginx, how the reads fall decides: two lines in the buffer are an invalid response
  // (one untagged line is allowed before the tagged OK), a buffer filled mid-line is too long.
  it('IMAP: endless untagged lines after LOGIN', async () => {
    const b = await backend(async (c) => {
      await c.write('* OK ready\r\n');
      await c.line();
      await c.write('+ go\r\n');
      await c.line();
      await c.write('+ go\r\n');
      await c.line();
      await c.endless('* CAPABILITY IMAP4rev1 X\r\n');
    });
    const error = await failure('imap', b.port);
    expect(error.message).toMatch(/^upstream sent (invalid response|too long response line): "\* CAPABILITY IMAP4rev1 X\\r\\n\* CAPABILITY/);
    expect(error.message.length).toBeLessThan(2 * BUFFER);
    expect(bytesTaken()).toBeLessThanOrEqual(BUFFER + READ_AHEAD);
  });
});

describe('a reply exactly as long as proxy_buffer', () => {
  it('POP3: a greeting of exactly the buffer goes on to USER/PASS', async () => {
    const b = await backend(async (c) => {
      await c.write(sized('+OK ', BUFFER));
      await c.line();
      await c.write('+OK\r\n');
      await c.line();
      await c.write('+OK logged in\r\n');
      await c.line();
    });
    const session = await login('pop3', b.port);
    expect(session.firstReply.toString('latin1')).toBe('+OK logged in\r\n');
    expect(b.lines).toEqual(['USER alice', 'PASS s3cret']);
    session.socket.destroy();
  });

  it('IMAP: an untagged line and the tagged OK filling the buffer are the client first reply', async () => {
    const reply = sized('* CAPABILITY IMAP4rev1 ', BUFFER, '\r\na1 OK Logged in\r\n');
    const b = await backend(async (c) => {
      await c.write('* OK ready\r\n');
      await c.line();
      await c.write('+ go\r\n');
      await c.line();
      await c.write('+ go\r\n');
      await c.line();
      await c.write(reply);
      await c.line();
    });
    const session = await login('imap', b.port);
    expect(session.firstReply.toString('latin1')).toBe(reply);
    session.socket.destroy();
  });

  it('SMTP: a multi-line EHLO reply of exactly the buffer completes the login', async () => {
    const b = await backend(async (c) => {
      await c.write('220 ready\r\n');
      await c.line();
      await c.write(sized('250-', BUFFER, '\r\n250 8BITMIME\r\n'));
      await c.line();
    });
    const session = await login('smtp', b.port);
    expect(session.firstReply.length).toBe(0);
    session.socket.destroy();
  });

  it('SMTP: the same reply one byte longer is too long', async () => {
    const b = await backend(async (c) => {
      await c.write('220 ready\r\n');
      await c.line();
      await c.write(sized('250-', BUFFER + 1, '\r\n250 8BITMIME\r\n'));
      await c.line();
    });
    expect((await failure('smtp', b.port)).message).toMatch(/^upstream sent too long response line: "250-xxx/);
  });
});

describe('backpressure', () => {
  it('bytes the backend sends between the login and the relay reach the client first, once the relay starts', async () => {
    const b = await backend(async (c) => {
      await c.write('+OK hello\r\n');
      await c.line();
      await c.write('+OK\r\n');
      await c.line();
      await c.write('+OK logged in\r\n');
      await new Promise((resolve) => setTimeout(resolve, 50));
      await c.write('early\r\n');
      await c.line();
      await c.write('late\r\n');
    });
    const session = await login('pop3', b.port);
    // Read on before the relay takes the socket: what comes is held, not lost.
    session.socket.resume();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const ended = relay(await accepted, session.socket, { toClient: session.firstReply, toBackend: Buffer.from('NOOP\r\n'), idleTimeoutMs: 10_000 });
    let relayed = '';
    client.on('data', (chunk: Buffer) => (relayed += chunk.toString('latin1')));
    await vi.waitFor(() => expect(relayed).toBe('+OK logged in\r\nearly\r\nlate\r\n'));
    client.destroy();
    await ended;
    server.close();
  });

  it('bytes past a full greeting are read as the next reply, once the next command is sent (as nginx reads them from the kernel)', async () => {
    const seen: string[] = [];
    const b = await backend(async (c) => {
      // The greeting in two reads, the second bringing the rest of the buffer and the reply to USER.
      const greeting = sized('+OK ', BUFFER);
      await c.write(greeting.slice(0, 100));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await c.write(greeting.slice(100) + '+OK user\r\n');
      seen.push(await c.line());
      seen.push(await c.line());
      await c.write('+OK logged in\r\n');
      await c.line();
    });
    const session = await login('pop3', b.port);
    expect(seen).toEqual(['USER alice', 'PASS s3cret']);
    expect(session.firstReply.toString('latin1')).toBe('+OK logged in\r\n');
    session.socket.destroy();
  });

  it('bytes after a full, complete reply stay unread in the socket, then reach the relay in order', async () => {
    const tail = Array.from({ length: 100_000 }, (_, i) => `line ${i}\r\n`).join('');
    const b = await backend(async (c) => {
      await c.write('+OK hello\r\n');
      await c.line();
      await c.write('+OK\r\n');
      await c.line();
      // The reply in two reads: the second brings the rest of the buffer and more, past it.
      const reply = sized('+OK ', BUFFER);
      await c.write(reply.slice(0, 100));
      await new Promise((resolve) => setTimeout(resolve, 50));
      await c.write(reply.slice(100) + tail);
      await c.line();
    });
    const session = await login('pop3', b.port);
    const reply = session.firstReply.toString('latin1');
    expect(reply.startsWith(sized('+OK ', BUFFER))).toBe(true);
    // Past the reply, the login holds at most what one read brought (it pauses the socket).
    expect(reply.length - BUFFER).toBeLessThanOrEqual(READ_AHEAD);
    expect(bytesTaken()).toBeLessThanOrEqual(BUFFER + READ_AHEAD);
    expect(tail.length).toBeGreaterThan(4 * READ_AHEAD);
    // The relay to a client: the reply (and what came with it), then the rest of the stream, in order.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    const ended = relay(await accepted, session.socket, { toClient: session.firstReply, toBackend: Buffer.alloc(0), idleTimeoutMs: 10_000 });
    let relayed = '';
    client.on('data', (chunk: Buffer) => (relayed += chunk.toString('latin1')));
    await vi.waitFor(() => expect(relayed.length).toBe(BUFFER + tail.length));
    expect(relayed).toBe(sized('+OK ', BUFFER) + tail);
    client.destroy();
    await ended;
    server.close();
  });
});
