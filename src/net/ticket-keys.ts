/**
 * Session ticket keys, as nginx keeps them: `ssl_session_ticket_key` files (the first encrypts,
 * every one decrypts, so keys rotate without breaking resumption), else one random key per
 * server{} made at start.
 *
 * nginx's key files: 48 bytes = name (16) | AES-128 key (16) | HMAC key (16); 80 bytes = name
 * (16) | AES-256 key (32) | HMAC key (32). Node's `ticketKeys` is 48 bytes in another order:
 * name | HMAC | AES. Tickets are AES-CBC + HMAC-SHA256 on both sides, so a 48-byte file means
 * the same to nginx and Postern. Node can only encrypt tickets with AES-128 (its ticket key
 * callback initialises EVP_aes_128_cbc and takes 16-byte AES keys only), so an 80-byte key file
 * is used with its 32-byte HMAC key as it is and a 16-byte AES key derived (HKDF-SHA256) from
 * its AES-256 key: every Postern process reading the file derives the same key, so rotation and
 * sharing between workers and hosts work as with nginx; only the ticket cipher is AES-128.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { ConfigError, describeErrno } from '../config/errors.js';
import type { Where } from '../config/types.js';
import { tlsFiles, type TlsFiles } from './tls-files.js';

export interface TicketKey {
  name: Buffer;
  aesKey: Buffer;
  hmacKey: Buffer;
}

/** Splits an nginx key file's bytes; undefined when the size is neither 48 nor 80. */
export function parseNginxTicketKey(bytes: Buffer): TicketKey | undefined {
  if (bytes.length === 48) return { name: bytes.subarray(0, 16), aesKey: bytes.subarray(16, 32), hmacKey: bytes.subarray(32, 48) };
  if (bytes.length === 80) return { name: bytes.subarray(0, 16), aesKey: bytes.subarray(16, 48), hmacKey: bytes.subarray(48, 80) };
  return undefined;
}

/** A key as nginx would write it to a file. */
export function nginxTicketKeyBytes(key: TicketKey): Buffer {
  return Buffer.concat([key.name, key.aesKey, key.hmacKey]);
}

/** The 48 bytes of Node's `ticketKeys` / `server.setTicketKeys()` (AES-128 keys only). */
export function nodeTicketKeys(key: TicketKey): Buffer {
  if (key.aesKey.length !== 16) throw new Error('Node.js ticketKeys hold an AES-128 key only');
  return Buffer.concat([key.name, key.hmacKey, key.aesKey]);
}

/** The inverse of nodeTicketKeys (for keys read back with `server.getTicketKeys()`). */
export function fromNodeTicketKeys(bytes: Buffer): TicketKey {
  return { name: bytes.subarray(0, 16), hmacKey: bytes.subarray(16, 32), aesKey: bytes.subarray(32, 48) };
}

/**
 * Reads `ssl_session_ticket_key` files in order, with nginx's errors (`open() "F" failed (...)`,
 * `"F" must be 48 or 80 bytes`) and Postern's refusal of 80-byte keys, at the directive's line.
 */
export function loadTicketKeyFiles(files: readonly string[], where: Where, reader: TlsFiles = tlsFiles()): TicketKey[] {
  return files.map((file) => {
    let bytes: Buffer;
    try {
      bytes = reader.read(file);
    } catch (error) {
      throw ConfigError.at(`open() "${file}" failed (${describeErrno(error)})`, where);
    }
    const key = parseNginxTicketKey(bytes);
    if (key === undefined) throw ConfigError.at(`"${file}" must be 48 or 80 bytes`, where);
    return key.aesKey.length === 16 ? key : { ...key, aesKey: aes128From(key.aesKey) };
  });
}

/** The AES-128 key Postern uses for an 80-byte file's AES-256 key (see the top of this file). */
function aes128From(aes256Key: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', aes256Key, Buffer.alloc(0), 'postern ticket key aes-128', 16));
}

/** Whether Node's public `ticketKeys` can hold this key (48-byte files and random keys). */
export const fitsNodeTicketKeys = (key: TicketKey): boolean => key.aesKey.length === 16 && key.hmacKey.length === 16;

/**
 * Random ticket keys, one per server{}: derived from one secret with HKDF, so that every worker
 * process given the same secret (by the primary) derives the same key for the same server{}.
 */
export class RandomTicketKeys {
  private readonly secret: Buffer;

  constructor(secret: Buffer = randomBytes(32)) {
    this.secret = secret;
  }

  /** The secret to hand to worker processes (never log it). */
  get sharedSecret(): Buffer {
    return this.secret;
  }

  /** The key of the server{} known as `serverId` (its file and line). */
  keyFor(serverId: string): TicketKey {
    const bytes = Buffer.from(hkdfSync('sha256', this.secret, Buffer.alloc(0), `postern session ticket key ${serverId}`, 48));
    return { name: bytes.subarray(0, 16), aesKey: bytes.subarray(16, 32), hmacKey: bytes.subarray(32, 48) };
  }
}
