import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { ticketKeyCallbackAvailable, ticketKeyDecision, useTicketKeys } from '../../../src/net/ticket-key-callback.js';
import { BuiltContextServer } from '../../../src/net/tls-endpoint.js';
import {
  fromNodeTicketKeys,
  loadTicketKeyFiles,
  nginxTicketKeyBytes,
  nodeTicketKeys,
  parseNginxTicketKey,
  RandomTicketKeys,
  type TicketKey,
} from '../../../src/net/ticket-keys.js';
import { TEST_CERT, TEST_KEY } from './session-test-cert.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'pt-ticket-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const where = { file: 'mail.conf', line: 7 };

const key = (seed: number): TicketKey => ({ name: Buffer.alloc(16, seed), aesKey: Buffer.alloc(16, seed + 1), hmacKey: Buffer.alloc(16, seed + 2) });

describe('nginx key files', () => {
  it('48 bytes: name | AES-128 | HMAC; 80 bytes: name | AES-256 | HMAC-32', () => {
    const bytes48 = Buffer.concat([Buffer.alloc(16, 1), Buffer.alloc(16, 2), Buffer.alloc(16, 3)]);
    const k48 = parseNginxTicketKey(bytes48)!;
    expect([k48.name[0], k48.aesKey[0], k48.hmacKey[0], k48.aesKey.length]).toEqual([1, 2, 3, 16]);
    const k80 = parseNginxTicketKey(Buffer.concat([Buffer.alloc(16, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 3)]))!;
    expect([k80.aesKey.length, k80.hmacKey.length, k80.hmacKey[0]]).toEqual([32, 32, 3]);
    expect(parseNginxTicketKey(Buffer.alloc(47))).toBeUndefined();
    expect(nginxTicketKeyBytes(k48).equals(bytes48)).toBe(true);
  });

  it("Node's ticketKeys order is name | HMAC | AES, and reads back the same", () => {
    const k = key(10);
    const node = nodeTicketKeys(k);
    expect([node[0], node[16], node[32]]).toEqual([10, 12, 11]);
    const back = fromNodeTicketKeys(node);
    expect(nginxTicketKeyBytes(back).equals(nginxTicketKeyBytes(k))).toBe(true);
  });

  it('loads files in order; errors as nginx words them, at the directive; 80-byte keys get a derived AES-128 key', () => {
    const a = path.join(dir, 'a.key');
    const b = path.join(dir, 'b.key');
    const short = path.join(dir, 'short.key');
    const aes256 = path.join(dir, 'aes256.key');
    writeFileSync(a, randomBytes(48));
    writeFileSync(b, randomBytes(48));
    writeFileSync(short, randomBytes(40));
    writeFileSync(aes256, randomBytes(80));
    const keys = loadTicketKeyFiles([b, a], where);
    expect(keys.map((k) => k.aesKey.length)).toEqual([16, 16]);
    expect(() => loadTicketKeyFiles([short], where)).toThrow(ConfigError);
    expect(() => loadTicketKeyFiles([short], where)).toThrow(`"${short}" must be 48 or 80 bytes in mail.conf:7`);
    expect(() => loadTicketKeyFiles([path.join(dir, 'none.key')], where)).toThrow(/^open\(\) ".*none\.key" failed \(2: No such file or directory\) in mail\.conf:7$/);
    const [fromA, from80] = loadTicketKeyFiles([a, aes256], where);
    expect(from80!.name.equals(readFileSync(aes256).subarray(0, 16))).toBe(true);
    expect([from80!.aesKey.length, from80!.hmacKey.length]).toEqual([16, 32]);
    expect(from80!.hmacKey.equals(readFileSync(aes256).subarray(48, 80))).toBe(true);
    // The same file always gives the same key (every worker, every host), and not the file's bytes.
    expect(loadTicketKeyFiles([aes256], where)[0]!.aesKey.equals(from80!.aesKey)).toBe(true);
    expect(readFileSync(aes256).subarray(16, 48).includes(from80!.aesKey)).toBe(false);
    expect(fromA!.aesKey.equals(readFileSync(a).subarray(16, 32))).toBe(true);
  });
});

describe('random keys', () => {
  it('one per server{}, the same for the same secret (every worker), different for another secret', () => {
    const secret = randomBytes(32);
    const one = new RandomTicketKeys(secret);
    const two = new RandomTicketKeys(Buffer.from(secret));
    const bytes = (k: TicketKey) => nginxTicketKeyBytes(k).toString('hex');
    expect(bytes(one.keyFor('mail.conf:3'))).toBe(bytes(two.keyFor('mail.conf:3')));
    expect(bytes(one.keyFor('mail.conf:3'))).not.toBe(bytes(one.keyFor('mail.conf:9')));
    expect(bytes(new RandomTicketKeys().keyFor('mail.conf:3'))).not.toBe(bytes(one.keyFor('mail.conf:3')));
    expect(nginxTicketKeyBytes(one.keyFor('x')).length).toBe(48);
  });
});

describe("nginx's decision per ticket", () => {
  it('encrypts with the first key; decrypts with any (2 = renew when not the first); unknown = 0 with dummy keys', () => {
    const [b, a] = [key(20), key(30)];
    const enc = ticketKeyDecision([b, a], Buffer.alloc(16), true);
    expect(enc[0]).toBe(1);
    expect((enc[3] as Buffer).equals(b.name)).toBe(true);
    expect((enc[4] as Buffer).length).toBe(16);
    expect(ticketKeyDecision([b, a], b.name, false)[0]).toBe(1);
    expect(ticketKeyDecision([b, a], a.name, false)[0]).toBe(2);
    const unknown = ticketKeyDecision([b, a], Buffer.alloc(16, 99), false);
    // Node aborts the process unless both keys are Buffers, even for 0.
    expect(unknown[0]).toBe(0);
    expect(Buffer.isBuffer(unknown[1]) && Buffer.isBuffer(unknown[2])).toBe(true);
  });
});

/** A TLS server (never listening itself) fed from a loopback listener, like TlsEndpoint. */
async function serverWith(keys: TicketKey[]): Promise<{ port: number; close(): Promise<void> }> {
  const context = tls.createSecureContext({ cert: TEST_CERT, key: TEST_KEY, sessionIdContext: 'T', minVersion: 'TLSv1.2' });
  useTicketKeys(context, keys);
  const server = new BuiltContextServer(context, {});
  server.on('secureConnection', (socket) => socket.end('hi\r\n'));
  const listener = net.createServer((socket) => server.emit('connection', socket));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as net.AddressInfo).port;
  return { port, close: () => new Promise((resolve) => listener.close(() => resolve())) };
}

/** Connects, reads until the server closes; reports whether the session was reused and the last session seen. */
function handshake(port: number, version: 'TLSv1.2' | 'TLSv1.3', session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let last: Buffer | undefined;
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, minVersion: version, maxVersion: version, ...(session ? { session } : {}) });
    socket.on('session', (s: Buffer) => (last = s));
    socket.on('error', reject);
    socket.resume();
    // A resumed TLS 1.2 session raises no 'session' event; its renewed ticket is in getSession().
    socket.on('end', () => resolve({ reused: socket.isSessionReused(), session: last ?? socket.getSession() }));
  });
}

describe("Node's ticket key callback (an internal: this fails if Node changes it)", () => {
  it('is there on a secure context', () => {
    expect(ticketKeyCallbackAvailable(tls.createSecureContext({ cert: TEST_CERT, key: TEST_KEY }))).toBe(true);
  });

  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    it(`rotation, ${version}: a ticket under A resumes under [B, A] and is renewed under B; not under [B]`, async () => {
      const [a, b] = [key(1), key(40)];
      const onlyA = await serverWith([a]);
      const bThenA = await serverWith([b, a]);
      const onlyB = await serverWith([b]);
      try {
        const first = await handshake(onlyA.port, version);
        expect(first.reused).toBe(false);
        const rotated = await handshake(bThenA.port, version, first.session);
        expect(rotated.reused).toBe(true);
        expect(rotated.session).toBeDefined();
        expect((await handshake(onlyB.port, version, first.session)).reused).toBe(false);
        expect((await handshake(onlyB.port, version, rotated.session)).reused).toBe(true);
      } finally {
        await Promise.all([onlyA.close(), bThenA.close(), onlyB.close()]);
      }
    });

    it(`80-byte key files, ${version}: a ticket resumes on another server reading the same file, and through a rotation`, async () => {
      const file = path.join(dir, `k80-${version}.key`);
      writeFileSync(file, randomBytes(80));
      const [k80] = loadTicketKeyFiles([file], where);
      const other = key(60);
      const first = await serverWith([k80!]);
      const second = await serverWith(loadTicketKeyFiles([file], where));
      const rotated = await serverWith([other, ...loadTicketKeyFiles([file], where)]);
      const stranger = await serverWith([other]);
      try {
        const issued = await handshake(first.port, version);
        expect((await handshake(second.port, version, issued.session)).reused).toBe(true);
        expect((await handshake(rotated.port, version, issued.session)).reused).toBe(true);
        expect((await handshake(stranger.port, version, issued.session)).reused).toBe(false);
      } finally {
        await Promise.all([first.close(), second.close(), rotated.close(), stranger.close()]);
      }
    });
  }
});
