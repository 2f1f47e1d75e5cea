/**
 * SASL and credential helpers shared by POP3, IMAP and SMTP (nginx: src/mail/ngx_mail_handler.c, ngx_mail_auth_plain/login/cram_md5/external).
 *
 * Byte convention: every credential string here (and every argument the parsers produce) is a
 * *binary* string — latin1, exactly one char per byte, chars 0x00–0xFF. It is never decoded as
 * UTF-8, so `Buffer.from(s, 'latin1')` gives back the exact bytes the client sent, which is what
 * the auth service (after %-escaping) and the backend must receive.
 */
import { Secret } from '../secret.js';
import type { Command } from './types.js';

/** Standard base64 alphabet value of each byte, or -1. */
const BASE64_VALUE: Int8Array = (() => {
  const table = new Int8Array(256).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

/**
 * nginx's lenient base64 decoding (`ngx_decode_base64`):
 * - decoding stops at the first `=`; whatever follows it is ignored (so padding is optional);
 * - any other byte outside the standard alphabet before that point → invalid (`null`);
 * - a significant length ≡ 1 (mod 4) → invalid;
 * - the unused low bits of a final partial group are not checked;
 * - empty input decodes to an empty buffer.
 * `text` is a binary (latin1) string; chars above 0xFF are invalid.
 */
export function decodeBase64Lenient(text: string): Buffer | null {
  let len = 0;
  for (; len < text.length; len++) {
    const code = text.charCodeAt(len);
    if (code === 0x3d /* = */) break;
    if (code > 0xff || BASE64_VALUE[code]! < 0) return null;
  }
  if (len % 4 === 1) return null;

  const out = Buffer.allocUnsafe(Math.floor(len / 4) * 3 + (len % 4 === 0 ? 0 : (len % 4) - 1));
  const v = (i: number): number => BASE64_VALUE[text.charCodeAt(i)]!;
  let o = 0;
  let i = 0;
  for (; len - i > 3; i += 4) {
    const a = v(i);
    const b = v(i + 1);
    const c = v(i + 2);
    const d = v(i + 3);
    out[o++] = ((a << 2) | (b >> 4)) & 0xff;
    out[o++] = ((b << 4) | (c >> 2)) & 0xff;
    out[o++] = ((c << 6) | d) & 0xff;
  }
  const rest = len - i;
  if (rest > 1) out[o++] = ((v(i) << 2) | (v(i + 1) >> 4)) & 0xff;
  if (rest > 2) out[o++] = ((v(i + 1) << 4) | (v(i + 2) >> 2)) & 0xff;
  return out.subarray(0, o);
}

/** Standard base64 (with padding) of a binary (latin1) string. */
export function encodeBase64(text: string): string {
  return Buffer.from(text, 'latin1').toString('base64');
}

/**
 * SASL PLAIN message `authzid NUL authcid NUL passwd` (nginx `ngx_mail_auth_plain`):
 * authzid is ignored; no NUL, or the first NUL as the last byte → `null` ("invalid login");
 * no second NUL → `null` ("invalid password"). The password is every byte after the second
 * NUL, further NULs included; user and password may be empty.
 */
export function parseSaslPlain(decoded: Buffer): { user: string; password: Secret } | null {
  const first = decoded.indexOf(0);
  if (first < 0 || first + 1 >= decoded.length) return null;
  const second = decoded.indexOf(0, first + 1);
  if (second < 0) return null;
  return {
    user: decoded.toString('latin1', first + 1, second),
    password: new Secret(decoded.toString('latin1', second + 1)),
  };
}

/**
 * CRAM-MD5 response `user SP digest` (nginx `ngx_mail_auth_cram_md5`): split at the first
 * space; the digest must be exactly 32 bytes (not checked for hex). No space → `null`.
 * The user may be empty.
 */
export function parseCramMd5(decoded: Buffer): { user: string; digest: Secret } | null {
  const space = decoded.indexOf(0x20);
  if (space < 0) return null;
  if (decoded.length - space - 1 !== 32) return null;
  return {
    user: decoded.toString('latin1', 0, space),
    digest: new Secret(decoded.toString('latin1', space + 1)),
  };
}

/** ASCII-only upper-casing (latin1 letters above 0x7F are left alone, as nginx does). */
export function asciiUpper(text: string): string {
  return text.replace(/[a-z]+/g, (s) => s.toUpperCase());
}

/**
 * The argument checks of nginx's `ngx_mail_auth_parse` that do not depend on configuration,
 * for POP3 `AUTH mech ...`, IMAP `AUTHENTICATE mech ...`, SMTP `AUTH mech ...` with at least
 * one argument. Every mechanism takes at most one initial response (3 arguments → refused);
 * CRAM-MD5 takes none. Whether the mechanism exists / is enabled is the machine's business.
 */
export function classifyAuthenticate(
  args: readonly string[],
  tag: string | undefined,
  refusal?: 'invalidArgument' | 'invalidCommand',
): Command {
  const refused: Extract<Command, { kind: 'refused' }> = { kind: 'refused' };
  if (tag !== undefined) refused.tag = tag;
  if (refusal !== undefined) refused.reply = refusal;
  const mech = args[0];
  if (mech === undefined || args.length > 2) return refused;
  const mechanism = asciiUpper(mech);
  if (mechanism === 'CRAM-MD5' && args.length !== 1) return refused;
  const command: Extract<Command, { kind: 'authenticate' }> = { kind: 'authenticate', mechanism };
  if (tag !== undefined) command.tag = tag;
  const initial = args[1];
  if (initial !== undefined) command.initialResponse = new Secret(initial);
  return command;
}
