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
 * Everything the connection machine says to a client that differs between protocols: reply
 * texts (each a full wire string ending in CRLF) as pure functions of their inputs. One
 * machine, three dialects.
 */
export interface Dialect {
  readonly protocol: Protocol;
  greeting(view: { salt: string; serverName: string; authMethods: readonly string[] }): string;
  ok(tag?: string): string;
  invalid(tag?: string): string;
  /** The line sent before closing on an auth-service or backend failure. */
  readonly internalError: string;
  capabilities(view: CapabilityView, tag?: string): string;
  /** POP3 bare `AUTH`. */
  authList(view: CapabilityView): string;
  quit(tag?: string): string;
  starttlsOk(tag?: string): string;
  /** POP3 `USER` accepted. */
  readonly userOk: string;
  challenge(step: SaslChallenge, salt: string): string;
  /** IMAP's reply to a bad AUTHENTICATE LOGIN user name: untagged and unstarred (nginx quirk). */
  saslUsernameInvalid(tag?: string): string;
  authFailed(text: string, tag?: string, errorCode?: string): string;
  /** IMAP synchronising literal continuation. */
  readonly literalContinuation: string;
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
