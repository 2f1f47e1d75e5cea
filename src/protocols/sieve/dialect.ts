/**
 * Every line Postern says to a ManageSieve client before login (RFC 5804; nginx has no
 * ManageSieve). Texts follow Dovecot's managesieve-login (Pigeonhole), the server most
 * ManageSieve clients meet, wherever RFC 5804 leaves the wording open:
 *
 * - the greeting and the CAPABILITY reply are capability lines, then `OK "text"` (§1.7, §2.4):
 *   `"IMPLEMENTATION" "Postern"`, `"SIEVE"` with the `postern_sieve_capabilities` extensions,
 *   `"NOTIFY" "mailto"` when they include `enotify` (RFC 5804 §1.7 ties the two), `"SASL"` from
 *   `postern_sieve_auth`, `"STARTTLS"` while it is offered, `"VERSION" "1.0"`, in Dovecot's order;
 * - after STARTTLS the server re-issues its capabilities, then `OK` (§2.2);
 * - with `starttls only`, before TLS, the SASL list is empty (§1.7 allows it only beside
 *   STARTTLS) and AUTHENTICATE gets `NO (ENCRYPT-NEEDED)` (§1.3);
 * - SASL challenges are quoted base64 strings (`""` for PLAIN's empty one) (§2.1);
 * - a line the server closes after is `BYE` (§1.3): internal errors, certificate refusals.
 */
import { CRLF, saslChallengeText, type CapabilityView, type SaslChallenge } from '../dialect.js';

/** Quoted strings longer than this are sent as literals (RFC 5804 §4 lets servers choose). */
const MAX_QUOTED = 1024;

/**
 * A ManageSieve string for the server's replies: quoted, with `"` and `\` escaped, unless it
 * holds CR, LF or NUL or is long, then a literal `{N}` CRLF bytes (RFC 5804 §4, literal-s2c).
 * `text` is a binary (latin1) string.
 */
export function sieveString(text: string): string {
  if (text.length > MAX_QUOTED || /[\r\n\0]/.test(text)) return `{${text.length}}${CRLF}${text}`;
  return `"${text.replace(/[\\"]/g, (ch) => `\\${ch}`)}"`;
}

/** SASL mechanisms in the same fixed order as IMAP's AUTH= list, only those listed in `postern_sieve_auth`. */
function saslMechanisms(authMethods: readonly string[]): string[] {
  const order: Array<[method: string, mechanism: string]> = [
    ['plain', 'PLAIN'],
    ['login', 'LOGIN'],
    ['cram-md5', 'CRAM-MD5'],
    ['external', 'EXTERNAL'],
  ];
  return order.filter(([method]) => authMethods.includes(method)).map(([, mechanism]) => mechanism);
}

/** `starttls only` before TLS: no authentication until the client has upgraded. */
export const tlsRequiredForAuth = (view: Pick<CapabilityView, 'tls' | 'starttls'>): boolean => view.starttls === 'only' && !view.tls;

/** What the server says it is; the backend's own IMPLEMENTATION is seen after login. */
export const IMPLEMENTATION = 'Postern';

/** The capability lines (without the closing OK); `view.capabilities` are the Sieve extensions. */
export function capabilityLines(view: CapabilityView): string {
  const lines = [`"IMPLEMENTATION" ${sieveString(IMPLEMENTATION)}`, `"SIEVE" ${sieveString(view.capabilities.join(' '))}`];
  if (view.capabilities.includes('enotify')) lines.push('"NOTIFY" "mailto"');
  const sasl = tlsRequiredForAuth(view) ? '' : saslMechanisms(view.authMethods).join(' ');
  lines.push(`"SASL" ${sieveString(sasl)}`);
  if (view.starttls !== 'off' && !view.tls) lines.push('"STARTTLS"');
  lines.push('"VERSION" "1.0"');
  return lines.map((line) => line + CRLF).join('');
}

const ok = (text: string): string => `OK ${sieveString(text)}${CRLF}`;
const no = (text: string): string => `NO ${sieveString(text)}${CRLF}`;
const bye = (text: string): string => `BYE ${sieveString(text)}${CRLF}`;

/** Every reply of the ManageSieve dialogue, as full wire strings. */
export const sieveReplies = {
  greeting: (view: CapabilityView): string => capabilityLines(view) + ok('ManageSieve ready.'),
  capabilities: (view: CapabilityView): string => capabilityLines(view) + ok('Capability completed.'),
  /** RFC 5804 §2.2: once TLS is up the server says its capabilities again, unasked. */
  tlsEstablished: (view: CapabilityView): string => capabilityLines(view) + ok('TLS negotiation successful.'),
  /** NOOP, with its optional echo tag (RFC 5804 §2.14: `OK (TAG "x") "Done"`). */
  noop: (tag?: string): string => (tag === undefined ? ok('NOOP Completed') : `OK (TAG ${sieveString(tag)}) "Done"${CRLF}`),
  invalid: no('Error in MANAGESIEVE command received by server.'),
  /** The `max_errors`-th invalid command: the server closes. */
  tooManyErrors: bye('Too many invalid MANAGESIEVE commands.'),
  /** A command longer than `postern_sieve_client_buffer`: the server closes. */
  tooLong: bye('Command line too long.'),
  quit: ok('Logout completed.'),
  starttlsOk: ok('Begin TLS negotiation now.'),
  /** AUTHENTICATE with a mechanism not in `postern_sieve_auth`. */
  unsupportedMechanism: no('Unsupported authentication mechanism.'),
  /** AUTHENTICATE before TLS with `starttls only` (RFC 5804 §1.3, response code ENCRYPT-NEEDED). */
  encryptionNeeded: `NO (ENCRYPT-NEEDED) ${sieveString('Plaintext authentication disallowed on non-secure connections.')}${CRLF}`,
  /** RFC 5804 §2.1: the next SASL line the client must answer. */
  challenge: (step: SaslChallenge, salt: string): string => `${sieveString(saslChallengeText(step, salt))}${CRLF}`,
  /** A SASL line that is no valid answer, `"*"` (the client's cancel) included. */
  saslInvalid: no('Authentication aborted or invalid SASL response.'),
  /** The auth service's `Auth-Status` text. */
  authFailed: (text: string): string => no(text),
  /** Sent before closing on an auth-service or backend failure. */
  internalError: `BYE (TRYLATER) ${sieveString('Internal server error.')}${CRLF}`,
  certificateError: bye('SSL certificate error'),
  certificateMissing: bye('No required SSL certificate'),
} as const;
