import type { Protocol, StartTlsMode } from '../config/types.js';

/** What a capability list depends on: the server's settings and the connection's TLS state. */
export interface CapabilityView {
  tls: boolean;
  starttls: StartTlsMode;
  authMethods: readonly string[];
  capabilities: readonly string[];
  /** POP3: CAPA right after USER shows the plain list (never STLS), as nginx does. */
  afterUser?: boolean;
}

/** The SASL challenge a client is sent before its next continuation line. */
export type SaslChallenge = 'plain' | 'username' | 'password' | 'cram-md5';

/**
 * What the greeting may depend on: it is said once, when the connection starts, so its TLS state
 * is `implicitTls` (ManageSieve's greeting is its capability list, STARTTLS included or not).
 */
export interface GreetingView {
  salt: string;
  serverName: string;
  authMethods: readonly string[];
  capabilities: readonly string[];
  starttls: StartTlsMode;
  implicitTls: boolean;
}

/** What a protocol's own lines may depend on: the capability view, the server's name and salt. */
export interface LineView extends CapabilityView {
  serverName: string;
  salt: string;
}

/**
 * Every line a protocol says to a client before the relay, each a full wire string ending in
 * CRLF, as pure functions of their inputs. The shared skeleton of the connection chart uses the
 * named members; a protocol's own commands use `lines` by name (the `say` action).
 */
export interface Dialect {
  readonly protocol: Protocol;
  greeting(view: GreetingView): string;
  ok(tag?: string): string;
  invalid(tag?: string): string;
  /**
   * A recognised command with the wrong arguments (not counted against `max_errors`); `reason`
   * is the parser's hint (SMTP answers 501 to an invalid argument).
   */
  refused(reason: 'invalidArgument' | 'invalidCommand' | undefined, tag?: string): string;
  /**
   * The closing line for input too long for the client buffer, in any state before login (a
   * command, a SASL continuation line, POP3's PASS after USER): nginx sends its invalid-command
   * line (ngx_mail_read_command), ManageSieve says `BYE` (RFC 5804 §1.3). `tag` is the IMAP tag,
   * when the command's tag was already read.
   */
  inputTooLong(tag?: string): string;
  /** The line sent before closing on an auth-service or backend failure. */
  readonly internalError: string;
  quit(tag?: string): string;
  starttlsOk(tag?: string): string;
  challenge(step: SaslChallenge, salt: string): string;
  /** The reply to an undecodable SASL LOGIN user name (IMAP: untagged and unstarred, an nginx quirk). */
  saslUsernameInvalid(tag?: string): string;
  authFailed(text: string, tag?: string, errorCode?: string): string;
  /** nginx's `cert_error` and `no_cert` lines: a client certificate refused after the handshake. */
  readonly certificateError: string;
  readonly certificateMissing: string;
  /** What the server says first once a STARTTLS handshake is done (ManageSieve: its capabilities, RFC 5804 §2.2). */
  afterStarttls?(view: LineView): string;
  /** SMTP `smtp_greeting_delay`: the line for a client that talks before the greeting. */
  readonly talkedTooSoon?: string;
  /** The protocol's own lines, by name, for its dialogue subchart. */
  readonly lines: Readonly<Record<string, (view: LineView, tag?: string) => string>>;
}

export const CRLF = '\r\n';
export const base64 = (text: string): string => Buffer.from(text, 'latin1').toString('base64');

/** Base64 challenges shared by POP3, IMAP and SMTP. */
export const SASL_USERNAME = base64('Username:');
export const SASL_PASSWORD = base64('Password:');

export function saslChallengeText(step: SaslChallenge, salt: string): string {
  switch (step) {
    case 'plain':
      return '';
    case 'username':
      return SASL_USERNAME;
    case 'password':
      return SASL_PASSWORD;
    case 'cram-md5':
      return base64(salt);
  }
}

/**
 * The SASL mechanisms the `*_auth` methods enable, in nginx's fixed order (PLAIN, LOGIN,
 * CRAM-MD5, EXTERNAL), for protocols that name LOGIN on its own (IMAP, SMTP, ManageSieve).
 */
export function mechanismsOf(authMethods: readonly string[]): string[] {
  const order: Array<[method: string, mechanism: string]> = [
    ['plain', 'PLAIN'],
    ['login', 'LOGIN'],
    ['cram-md5', 'CRAM-MD5'],
    ['external', 'EXTERNAL'],
  ];
  return order.filter(([method]) => authMethods.includes(method)).map(([, mechanism]) => mechanism);
}
