import type { Protocol, StartTlsMode, VerifyClient } from '../src/config/types.js';
import type { Command } from '../src/protocols/types.js';
import type { Secret } from '../src/secret.js';
import type { ProxyAddresses } from '../src/net/proxy-protocol.js';

/**
 * Everything a connection's machine knows from outside when it starts: the server's settings
 * and the facts about this connection that come from the clock, randomness or the socket
 * (salt, client address). Journaled as the first record; holds no secret.
 */
export interface ConnectionInput {
  protocol: Protocol;
  starttls: StartTlsMode;
  /**
   * `ssl_verify_client`: which client certificates end the connection after the handshake
   * (absent, as in journals written before it existed: off).
   */
  verifyClient?: VerifyClient;
  /** `listen ... ssl` (or legacy `ssl on`): TLS before the greeting. */
  implicitTls: boolean;
  /** pop3_auth / imap_auth / smtp_auth methods, as configured. */
  authMethods: readonly string[];
  /** pop3_capabilities / imap_capabilities / smtp_capabilities. */
  capabilities: readonly string[];
  maxErrors: number;
  /** `timeout`: absolute deadline before authentication, and for the backend login. */
  timeoutMs: number;
  authHttpTimeoutMs: number;
  serverName: string;
  /** `<random.unixtime@server_name>`: APOP/CRAM-MD5 challenge, made by the runtime; empty where neither is enabled. */
  salt: string;
  clientIp: string;
  /** SMTP: the client's host name for `Client-Host` and XCLIENT `NAME=` (`[UNAVAILABLE]` without a resolver). */
  clientHost: string;
  proxyPassErrorMessage: boolean;
  /** SMTP `smtp_greeting_delay`: wait this long before greeting; a client talking first is refused. */
  greetingDelayMs: number;
  /** SMTP `xclient`: tell the backend who the client is. */
  xclient: boolean;
  /** SMTP `proxy_smtp_auth`: log in to the backend with AUTH PLAIN. */
  proxySmtpAuth: boolean;
}

export interface TlsInfo {
  protocol: string;
  cipher: string;
  /** The client certificate as nginx reports it; only with `ssl_verify_client` other than off. */
  clientCert?: ClientCertificate;
}

/** `Auth-SSL-Verify`: OpenSSL's verify result, its error string after `FAILED:`. */
export type ClientCertVerify = 'SUCCESS' | 'NONE' | `FAILED:${string}`;

/**
 * The client certificate after the handshake, in the forms nginx sends to the auth service
 * (`Auth-SSL-Verify`, `-Subject`, `-Issuer`, `-Serial`, `-Fingerprint`, `-Cert`). The details
 * are there when the client sent a certificate, `pem` only with `auth_http_pass_client_cert on`.
 */
export interface ClientCertificate {
  verify: ClientCertVerify;
  /** The failure is one `optional_no_ca` lets through: the issuer is unknown or not trusted. */
  issuerUnknown?: boolean;
  /** OpenSSL's verify error number, for the log line (`(20:unable to get local issuer certificate)`). */
  errorNumber?: number;
  /** RFC 2253, as OpenSSL prints it (`CN=alice,O=Example\, Inc.`). */
  subject?: string;
  issuer?: string;
  /** Upper-case hex. */
  serial?: string;
  /** SHA-1 of the DER, lower-case hex. */
  fingerprint?: string;
  /** The PEM text, unescaped. */
  pem?: string;
}

export type AuthMethod = 'plain' | 'apop' | 'cram-md5' | 'external' | 'none';

/** One request to the auth_http service, as data. */
export interface AuthRequest {
  method: AuthMethod;
  user: string;
  password: Secret;
  salt?: string;
  protocol: Protocol;
  attempt: number;
  clientIp: string;
  clientHost?: string;
  smtp?: { helo: string; from: string; to: string };
  tls?: TlsInfo;
  /** The PROXY header's addresses (`Proxy-Protocol-*` headers); added by the runtime, not the machine. */
  proxyProtocol?: ProxyAddresses;
}

export type AuthOutcome =
  | { status: 'ok'; server: string; port: number; user?: string; password?: Secret }
  | { status: 'fail'; text: string; waitSeconds?: number; errorCode?: string }
  | { status: 'wait'; waitSeconds: number }
  | { status: 'error'; reason: string };

/** What the backend connector needs to log in on the client's behalf. */
export interface BackendTarget {
  server: string;
  port: number;
  user: string;
  password: Secret;
  /** IMAP: the client's LOGIN/AUTHENTICATE tag, reused towards the backend. */
  tag?: string;
  /** SMTP: what the backend dialogue replays (HELO/EHLO, XCLIENT, the `smtp_auth none` envelope). */
  smtp?: SmtpBackendDialogue;
}

export interface SmtpBackendDialogue {
  serverName: string;
  /** The client's last HELO/EHLO argument ('' if none, or forgotten by STARTTLS). */
  helo: string;
  /** The client used EHLO at least once (sticky, as in nginx). */
  esmtp: boolean;
  xclient: boolean;
  /** `proxy_smtp_auth`: AUTH PLAIN with the target's user and password (no XCLIENT LOGIN). */
  proxySmtpAuth: boolean;
  clientIp: string;
  clientHost: string;
  /** `smtp_auth none`: the MAIL and RCPT lines to replay; the backend's RCPT reply goes to the client. */
  envelope?: { mail: string; rcpt: string };
}

/** A SASL initial response, already decoded by the runtime (the machine never looks inside secrets). */
export type SaslInitial = { valid: false } | { valid: true; user?: string; password?: Secret };

/**
 * `cmd.<kind>` for each command the scanners produce (src/protocols/types.ts `Command`), with the
 * command's own fields: derived, so the two cannot drift apart. AUTHENTICATE's initial response
 * and SASL continuation lines arrive decoded instead (below).
 */
type CommandEventOf<C> = C extends { kind: infer K extends string } ? { type: `cmd.${K}` } & Omit<C, 'kind'> : never;
export type CommandEvent = CommandEventOf<Exclude<Command, { kind: 'authenticate' | 'saslResponse' }>>;

/** Events the machine receives. */
export type ConnectionEvent =
  | CommandEvent
  | { type: 'cmd.authenticate'; tag?: string; mechanism: string; initial?: SaslInitial }
  /** A decoded SASL continuation: which fields are set depends on the step the machine is in. */
  | { type: 'sasl.response'; user?: string; password?: Secret }
  | { type: 'sasl.invalid' }
  | { type: 'input.literal' }
  | { type: 'input.tooLong'; tag?: string }
  | { type: 'tls.established'; tls: TlsInfo }
  | { type: 'tls.failed'; reason: string }
  | { type: 'auth.result'; outcome: AuthOutcome }
  | { type: 'backend.ready' }
  | { type: 'backend.failed'; reason: string; passthrough?: string }
  | { type: 'relay.ended'; reason: string }
  | { type: 'client.closed' };

export type ConnectionEventType = ConnectionEvent['type'];

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Effects the machine asks the runtime to carry out, in order. */
export type ConnectionEffect =
  | { type: 'reply'; text: string }
  | { type: 'startTls' }
  | { type: 'authenticate'; request: AuthRequest }
  | { type: 'connectBackend'; target: BackendTarget }
  | { type: 'startRelay' }
  | { type: 'log'; level: LogLevel; message: string }
  /** Drop this connection's TLS session from the session cache (its client certificate was refused). */
  | { type: 'forgetTlsSession' }
  | { type: 'close'; reason: string };
