/**
 * Every line Postern says to a ManageSieve client before login (RFC 5804; nginx has no
 * ManageSieve). Texts follow Dovecot's managesieve-login (Pigeonhole), the server most
 * ManageSieve clients meet, wherever RFC 5804 leaves the wording open:
 *
 * - the greeting and the CAPABILITY reply are capability lines, then `OK "text"` (§1.7, §2.4):
 *   `"IMPLEMENTATION" "Postern"`, `"SIEVE"` with the `postern_sieve_capabilities` extensions,
 *   `"NOTIFY" "mailto"` when they include `enotify` (RFC 5804 §1.7 ties the two), `"SASL"` from
 *   `postern_sieve_auth`, `"STARTTLS"` while it is offered, `"VERSION" "1.0"`, in Dovecot's order;
 * - with `starttls only`, before TLS, the SASL list is empty (§1.7 allows that only beside
 *   STARTTLS), so clients upgrade first; AUTHENTICATE then gets `NO (ENCRYPT-NEEDED)` (§1.3);
 * - after the STARTTLS handshake the server speaks first again: the capabilities, then
 *   `OK "TLS negotiation successful."` (§2.2; Dovecot's words, checked on Dovecot 2.3);
 * - NOOP's optional tag comes back as `OK (TAG "tag") "Done"` (§2.14);
 * - SASL challenges are quoted base64 strings (`""` for PLAIN's empty one) (§2.1);
 * - a line the server closes after is `BYE` (§1.3: a server closing the connection says BYE
 *   first): internal errors, certificate refusals, and, in Dovecot 2.3's words, a command too
 *   long for the buffer (`BYE "Input buffer full, aborting"`) and the invalid command that
 *   reaches `max_errors` (`BYE "Too many invalid MANAGESIEVE commands."`, where Dovecot also
 *   closes). An invalid line ending in a literal header closes too (its literal must not be read
 *   as commands): `BYE` with the invalid-command text.
 *
 * ManageSieve has no tags: `tag` is NOOP's echo tag, or undefined.
 */
import { CRLF, mechanismsOf, saslChallengeText, type CapabilityView, type Dialect } from '../dialect.js';

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

/** What the server says it is; the backend's own IMPLEMENTATION is what the client sees after login. */
export const IMPLEMENTATION = 'Postern';

/** The capability lines (without the closing OK); `view.capabilities` are the Sieve extensions. */
export function capabilityLines(view: CapabilityView): string {
  const lines = [`"IMPLEMENTATION" ${sieveString(IMPLEMENTATION)}`, `"SIEVE" ${sieveString(view.capabilities.join(' '))}`];
  if (view.capabilities.includes('enotify')) lines.push('"NOTIFY" "mailto"');
  const tlsRequiredForAuth = view.starttls === 'only' && !view.tls;
  lines.push(`"SASL" ${sieveString(tlsRequiredForAuth ? '' : mechanismsOf(view.authMethods).join(' '))}`);
  if (view.starttls !== 'off' && !view.tls) lines.push('"STARTTLS"');
  lines.push('"VERSION" "1.0"');
  return lines.map((line) => line + CRLF).join('');
}

const ok = (text: string): string => `OK ${sieveString(text)}${CRLF}`;
const no = (text: string): string => `NO ${sieveString(text)}${CRLF}`;
const bye = (text: string): string => `BYE ${sieveString(text)}${CRLF}`;

const INVALID_TEXT = 'Error in MANAGESIEVE command received by server.';
const INVALID = no(INVALID_TEXT);

export const sieveDialect: Dialect = {
  protocol: 'sieve',
  greeting: (view) => capabilityLines({ ...view, tls: view.implicitTls }) + ok('ManageSieve ready.'),
  /** NOOP, with its optional echo tag (RFC 5804 §2.14). */
  ok: (tag) => (tag === undefined ? ok('NOOP Completed') : `OK (TAG ${sieveString(tag)}) "Done"${CRLF}`),
  invalid: () => INVALID,
  refused: () => INVALID,
  inputTooLong: () => bye('Input buffer full, aborting'),
  internalError: `BYE (TRYLATER) ${sieveString('Internal server error.')}${CRLF}`,
  quit: () => ok('Logout completed.'),
  starttlsOk: () => ok('Begin TLS negotiation now.'),
  challenge: (step, salt) => `${sieveString(saslChallengeText(step, salt))}${CRLF}`,
  saslUsernameInvalid: () => INVALID,
  /** The auth service's `Auth-Status` text, quoted. */
  authFailed: (text) => no(text),
  certificateError: bye('SSL certificate error'),
  certificateMissing: bye('No required SSL certificate'),
  afterStarttls: (view) => capabilityLines(view) + ok('TLS negotiation successful.'),
  lines: {
    capabilities: (view) => capabilityLines(view) + ok('Capability completed.'),
    /** AUTHENTICATE before TLS under `starttls only` (RFC 5804 §1.3 response code). */
    encryptNeeded: () => `NO (ENCRYPT-NEEDED) ${sieveString('Plaintext authentication disallowed on non-secure (SSL/TLS) connections.')}${CRLF}`,
    /** The closing lines (see the top of this file). */
    tooManyInvalid: () => bye('Too many invalid MANAGESIEVE commands.'),
    invalidClosing: () => bye(INVALID_TEXT),
  },
};
