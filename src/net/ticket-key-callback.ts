/**
 * Several session ticket keys at once (nginx's repeated `ssl_session_ticket_key`: the first
 * encrypts, the others still decrypt), which Node's public API cannot do: `ticketKeys` holds one
 * key. Node's native SecureContext has an undocumented `enableTicketKeyCallback()` that routes
 * OpenSSL's ticket key callback to a JS `onticketkeycallback(name, iv, encrypt)` on that context
 * object (Node's own tests use it: test-https-resume-after-renew.js). Everything that relies on
 * it is in this file; test/unit/net/ticket-keys.test.ts fails if Node changes it.
 *
 * The native side (Node 20, crypto_context.cc) reads the returned array as
 * [result, hmacKey, aesKey, name?, iv?]: HMAC-SHA256 with hmacKey, AES-128-CBC with aesKey
 * (exactly 16 bytes, else the handshake fails). It aborts the whole process when a key is not a
 * Buffer, even for result 0, and when the callback throws; so the callback below always returns
 * complete arrays and never throws. Results, as OpenSSL and nginx use them: 1 = use this key,
 * 2 = decrypted with an older key (the client gets a fresh ticket under the current one),
 * 0 = unknown key (full handshake), -1 = failure.
 */
import { randomBytes } from 'node:crypto';
import type tls from 'node:tls';
import type { TicketKey } from './ticket-keys.js';

type TicketKeyResult = [number, Buffer, Buffer] | [number, Buffer, Buffer, Buffer, Buffer] | [number];

interface NativeSecureContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => TicketKeyResult;
}

export class TicketKeyCallbackUnavailable extends Error {}

const NO_KEY = Buffer.alloc(16);

/** The native context behind a secure context (an internal of Node). */
const nativeContext = (secureContext: tls.SecureContext): NativeSecureContext | undefined =>
  (secureContext as tls.SecureContext & { context?: NativeSecureContext }).context;

/** Whether this Node.js offers the callback on `secureContext`'s native context. */
export function ticketKeyCallbackAvailable(secureContext: tls.SecureContext): boolean {
  return typeof nativeContext(secureContext)?.enableTicketKeyCallback === 'function';
}

/** The decision for one ticket, as nginx's ngx_ssl_ticket_key_callback makes it. */
export function ticketKeyDecision(keys: readonly TicketKey[], name: Buffer, encrypt: boolean): TicketKeyResult {
  if (encrypt) {
    const key = keys[0]!;
    return [1, key.hmacKey, key.aesKey, key.name, randomBytes(16)];
  }
  const index = keys.findIndex((key) => key.name.equals(name));
  if (index < 0) return [0, NO_KEY, NO_KEY];
  const key = keys[index]!;
  return [index === 0 ? 1 : 2, key.hmacKey, key.aesKey];
}

/**
 * Makes `secureContext` (a server's, or an SNI certificate's) encrypt tickets with keys[0] and
 * decrypt with any of `keys` (AES keys of 16 bytes: loadTicketKeyFiles derives one for 80-byte files).
 */
export function useTicketKeys(secureContext: tls.SecureContext, keys: readonly TicketKey[]): void {
  const context = nativeContext(secureContext);
  if (context === undefined || typeof context.enableTicketKeyCallback !== 'function') {
    throw new TicketKeyCallbackUnavailable('this Node.js cannot use several ssl_session_ticket_key files (no ticket key callback)');
  }
  if (keys.length === 0 || keys.some((key) => key.aesKey.length !== 16 || key.name.length !== 16)) {
    throw new TicketKeyCallbackUnavailable('session ticket keys need 16-byte names and AES keys');
  }
  const held = keys.map((key) => ({ name: Buffer.from(key.name), aesKey: Buffer.from(key.aesKey), hmacKey: Buffer.from(key.hmacKey) }));
  context.onticketkeycallback = (name, _iv, encrypt) => {
    try {
      return ticketKeyDecision(held, name, encrypt);
    } catch {
      return encrypt ? [-1] : [0, NO_KEY, NO_KEY];
    }
  };
  context.enableTicketKeyCallback();
}
