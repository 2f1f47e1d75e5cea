import type { PathValue } from './level.js';
import type {
  AccessLogConfig,
  AuthHttpTarget,
  BackendProxyProtocol,
  ErrorLogConfig,
  ImapAuthMethod,
  Pop3AuthMethod,
  ProxySslMode,
  RealIpSource,
  ResolverConfig,
  SessionStoreUrl,
  SieveAuthMethod,
  SmtpAuthMethod,
  SniCertificate,
  StartTlsMode,
  VerifyClient,
} from './types.js';

/**
 * One level's `ssl_session_cache`, as ngx_mail_ssl_session_cache leaves it: the builtin part
 * (`no_builtin` when only `shared` was written) and the shared zone. Merged in merge/resolve.ts.
 */
export interface SessionCacheSetting {
  builtin?: 'off' | 'none' | 'no_builtin' | { sessions: number };
  shared?: { name: string; sizeBytes: number };
}

/**
 * The value each directive's parser stores (directives.ts and the extension modules), by
 * directive name: what `settingValue` hands back when the merge reads it. Times are in
 * milliseconds, sizes in bytes; `undefined` where the directive has no default and was not
 * written, `null` for the `off` of directives that have one.
 */
export interface DirectiveValues {
  ssl: boolean;
  starttls: StartTlsMode;
  server_name: string | undefined;
  error_log: ErrorLogConfig[] | undefined;
  timeout: number;
  max_errors: number;
  resolver: ResolverConfig | null | undefined;
  resolver_timeout: number;
  auth_http: AuthHttpTarget;
  auth_http_header: Array<[name: string, value: string]> | undefined;
  auth_http_timeout: number;
  auth_http_pass_client_cert: boolean;
  proxy_buffer: number;
  proxy_timeout: number;
  proxy_pass_error_message: boolean;
  proxy_smtp_auth: boolean;
  proxy_protocol: BackendProxyProtocol;
  xclient: boolean;
  set_real_ip_from: RealIpSource[] | undefined;
  pop3_auth: Pop3AuthMethod[];
  pop3_capabilities: string[];
  imap_auth: ImapAuthMethod[];
  imap_capabilities: string[];
  imap_client_buffer: number;
  smtp_auth: SmtpAuthMethod[];
  smtp_capabilities: string[];
  smtp_client_buffer: number;
  smtp_greeting_delay: number;
  ssl_certificate: PathValue[] | undefined;
  ssl_certificate_key: PathValue[] | undefined;
  ssl_password_file: PathValue | undefined;
  ssl_protocols: string[];
  ssl_ciphers: string;
  ssl_prefer_server_ciphers: boolean;
  ssl_session_cache: SessionCacheSetting | undefined;
  ssl_session_timeout: number;
  ssl_session_tickets: boolean;
  ssl_session_ticket_key: PathValue[] | undefined;
  ssl_dhparam: PathValue | undefined;
  ssl_ecdh_curve: string;
  ssl_verify_client: VerifyClient;
  ssl_verify_depth: number;
  ssl_client_certificate: PathValue | undefined;
  ssl_trusted_certificate: PathValue | undefined;
  ssl_crl: PathValue | undefined;
  ssl_conf_command: Array<[name: string, value: string]> | undefined;
  postern_ssl_sni_certificate: SniCertificate[] | undefined;
  postern_sieve_auth: SieveAuthMethod[];
  postern_sieve_capabilities: string[];
  postern_sieve_client_buffer: number;
  postern_proxy_forward: boolean;
  postern_limit_conn_per_ip: number | null;
  postern_ssl_session_store: SessionStoreUrl | null;
  postern_access_log: AccessLogConfig | null | undefined;
  postern_journal: PathValue | null | undefined;
  postern_proxy_ssl: ProxySslMode;
  postern_proxy_ssl_verify: boolean;
  postern_proxy_ssl_server_name: boolean;
  postern_proxy_ssl_protocols: string[];
  postern_proxy_ssl_ciphers: string;
  postern_proxy_ssl_session_reuse: boolean;
  postern_proxy_ssl_name: string | undefined;
  postern_proxy_ssl_trusted_certificate: PathValue | undefined;
  postern_proxy_ssl_certificate: PathValue | undefined;
  postern_proxy_ssl_certificate_key: PathValue | undefined;
}

export type DirectiveName = keyof DirectiveValues;

/** Reads a directive's merged value by name, typed by `DirectiveValues`. */
export type ValueOf = <K extends DirectiveName>(name: K) => DirectiveValues[K];
