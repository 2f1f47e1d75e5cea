/**
 * The resolved configuration the runtime uses: one `ServerConfig` per `server { }` block of the
 * `mail { }` block, with every directive's value already merged from the mail level (nginx's
 * mail-to-server inheritance) and defaults filled in. The parser (src/config/) produces it;
 * nothing else in src/ reads raw directives.
 */
/** What `protocol` accepts; `sieve` (ManageSieve, RFC 5804) is a Postern extension: nginx has no such protocol. */
export const PROTOCOLS = ['pop3', 'imap', 'smtp', 'sieve'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export type StartTlsMode = 'off' | 'on' | 'only';
export type Pop3AuthMethod = 'plain' | 'apop' | 'cram-md5' | 'external';
export type ImapAuthMethod = 'plain' | 'login' | 'cram-md5' | 'external';
export type SmtpAuthMethod = 'plain' | 'login' | 'cram-md5' | 'external' | 'none';
export type SieveAuthMethod = 'plain' | 'login' | 'cram-md5' | 'external';

/** Where a directive was written: reported in every config error, like `nginx -t`. */
export interface Where {
  file: string;
  line: number;
}

export interface ListenConfig {
  /** Literal address to bind: '0.0.0.0' for `*:port` or a bare port, '::' for `[::]:port`, else the IP. */
  host: string;
  port: number;
  /** Text as written (for messages), e.g. `127.0.0.1:8143`, `*:110`, `[::]:993`. */
  text: string;
  ssl: boolean;
  bind: boolean;
  backlog?: number;
  rcvbuf?: number;
  sndbuf?: number;
  ipv6only?: boolean;
  /** `so_keepalive=on|off|idle:intvl:cnt`; idle/intvl in seconds. */
  soKeepalive?: { enabled: boolean; idle?: number; interval?: number; count?: number };
  /** `proxy_protocol`: every connection starts with a PROXY protocol header (before TLS on an `ssl` listen). */
  proxyProtocol?: boolean;
  where: Where;
}

/** One `set_real_ip_from` value: an address or CIDR, or `unix:`. */
export type RealIpSource = { kind: 'unix' } | { kind: 'cidr'; family: 'ipv4' | 'ipv6'; address: string; prefix: number };

/** `proxy_protocol` towards the backend: off, v1 text (`on`) or v2 binary. */
export type BackendProxyProtocol = 'off' | 'on' | 'v2';

export interface AuthHttpTarget {
  /** URL as written. */
  url: string;
  /** TCP host (IP or name) or unix socket path. */
  host?: string;
  port?: number;
  unixPath?: string;
  /** Request-URI, default `/`. */
  uri: string;
  /** Value of the `Host:` header: the host without port, `localhost` for unix sockets. */
  hostHeader: string;
}

/** One `postern_ssl_sni_certificate` (Postern extension): the certificate for matching SNI names. */
export interface SniCertificate {
  /** `mail.example.com`, `*.example.com` or `.example.com`, lower case. */
  pattern: string;
  certificate: string;
  key: string;
  where: Where;
}

export type VerifyClient = 'off' | 'on' | 'optional' | 'optional_no_ca';

/**
 * `ssl_session_cache`. nginx's default `none` is `{ off: false }` with neither cache: clients are
 * told sessions may be reused, but nothing is stored (tickets still resume).
 */
export interface SessionCacheConfig {
  /** `off`: clients are told sessions may not be reused. */
  off: boolean;
  /** `builtin[:size]`: a per-process cache of `size` sessions (nginx: 20480). */
  builtinSessions?: number;
  /** `shared:name:size`: one cache for every server naming it, `size` bytes (~4000 sessions/MB). */
  shared?: { name: string; sizeBytes: number };
}

export interface SslConfig {
  certificates: string[];
  certificateKeys: string[];
  /** `postern_ssl_sni_certificate` entries (Postern extension): certificates chosen by SNI. */
  sniCertificates: SniCertificate[];
  /** `ssl_password_file`: passphrases for encrypted keys, one per line, tried in turn. */
  passwordFile?: string;
  protocols: string[];
  ciphers: string;
  preferServerCiphers: boolean;
  sessionCache: SessionCacheConfig;
  /** `ssl_session_timeout` (default 5m). */
  sessionTimeoutMs: number;
  /** `ssl_session_tickets` (default on). */
  sessionTickets: boolean;
  /** `ssl_session_ticket_key` files (48 or 80 bytes): the first encrypts, all decrypt. */
  sessionTicketKeys: string[];
  /** `ssl_dhparam` file (absent: no DHE). */
  dhparam?: string;
  /** `ssl_ecdh_curve` (default `auto`). */
  ecdhCurve: string;
  verifyClient: VerifyClient;
  /** `ssl_verify_depth` (default 1). */
  verifyDepth: number;
  /** `ssl_client_certificate`: CAs that verify client certificates and are advertised. */
  clientCertificate?: string;
  /** `ssl_trusted_certificate`: CAs that verify client certificates, not advertised. */
  trustedCertificate?: string;
  /** `ssl_crl`: revoked client certificates. */
  crl?: string;
  /** `ssl_conf_command name value`, in order. */
  confCommands: Array<[name: string, value: string]>;
  /** Where the certificate directives were written (for errors about them). */
  certificateWhere?: Where;
  /** Where each other `ssl_*` directive in effect was written, by directive name (for file errors). */
  where: Partial<Record<string, Where>>;
}

export interface ErrorLogConfig {
  /** File path, `stderr`, or `syslog:...` as written. */
  target: string;
  level: 'debug' | 'info' | 'notice' | 'warn' | 'error' | 'crit' | 'alert' | 'emerg';
  /** For a `syslog:` target: its parameters. */
  syslog?: SyslogTarget;
}

/** `postern_access_log PATH [text|json]`: one line per ended connection. */
export interface AccessLogConfig {
  path: string;
  format: 'text' | 'json';
}

/** `error_log syslog:server=ADDR[:PORT][,facility=..][,tag=..][,severity=..][,nohostname]`. */
export interface SyslogTarget {
  host: string;
  /** Default 514. */
  port: number;
  /** RFC 3164 facility number (default 23, local7). */
  facility: number;
  /** Default `nginx`, as nginx's (a log reader's filter on the tag keeps working). */
  tag: string;
  nohostname: boolean;
}

/** One name server of `resolver`. */
export interface ResolverServer {
  host: string;
  port: number;
}

/** `resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off]`. */
export interface ResolverConfig {
  servers: ResolverServer[];
  /** `valid=time`: overrides the answers' TTL for caching (Postern does not cache). */
  validMs?: number;
  ipv4: boolean;
  ipv6: boolean;
}

export interface ServerConfig {
  where: Where;
  listens: ListenConfig[];
  protocol: Protocol;
  serverName: string;
  timeoutMs: number;
  maxErrors: number;
  /** `postern_access_log` (the server's, else the mail block's); absent: off. */
  accessLog?: AccessLogConfig;
  /** The server's own `error_log`s, else the mail block's; absent: the top-level ones. */
  errorLogs?: ErrorLogConfig[];
  authHttp: AuthHttpTarget;
  authHttpHeaders: Array<[name: string, value: string]>;
  authHttpTimeoutMs: number;
  proxyBufferSize: number;
  proxyTimeoutMs: number;
  proxyPassErrorMessage: boolean;
  pop3Auth: Pop3AuthMethod[];
  pop3Capabilities: string[];
  imapAuth: ImapAuthMethod[];
  imapCapabilities: string[];
  imapClientBuffer: number;
  smtpAuth: SmtpAuthMethod[];
  smtpCapabilities: string[];
  smtpClientBuffer: number;
  smtpGreetingDelayMs: number;
  /** Postern extension `postern_sieve_auth` (default plain): SASL mechanisms offered to ManageSieve clients. */
  sieveAuth: SieveAuthMethod[];
  /** Postern extension `postern_sieve_capabilities`: the Sieve extensions in the `"SIEVE"` capability. */
  sieveCapabilities: string[];
  /** Postern extension `postern_sieve_client_buffer` (default 4k): the longest ManageSieve command, literals included. */
  sieveClientBuffer: number;
  /** `xclient on|off` (default on): send Postfix XCLIENT to the SMTP backend. */
  xclient: boolean;
  /** `proxy_smtp_auth on|off` (default off): AUTH PLAIN to the SMTP backend (XCLIENT then without LOGIN). */
  proxySmtpAuth: boolean;
  /** `resolver` (SMTP client host name lookups); absent for `resolver off` (the default). */
  resolver?: ResolverConfig;
  /** `resolver_timeout` (default 30s): bounds each DNS lookup. */
  resolverTimeoutMs: number;
  starttls: StartTlsMode;
  /** The legacy `ssl on` directive (every listen of the server is implicit TLS). */
  sslOn: boolean;
  ssl: SslConfig;
  /** `auth_http_pass_client_cert` (default off): send the client certificate as `Auth-SSL-Cert`. */
  authHttpPassClientCert: boolean;
  /** Postern extension `postern_limit_conn_per_ip`: concurrent connections per client address (absent: off). */
  limitConnPerIp?: number;
  /** Postern extension `postern_journal`: directory for per-connection journals (absent: off). */
  journalDir?: string;
  /** Postern extension `postern_proxy_ssl*`: TLS from the proxy to the backend. */
  proxySsl: ProxySslConfig;
  /** `set_real_ip_from`: senders trusted to name the client in a PROXY header (empty: none). */
  realIpFrom: RealIpSource[];
  /** `proxy_protocol` (default off): a PROXY header to the backend before its greeting. */
  proxyProtocol: BackendProxyProtocol;
  /** Postern extension `postern_proxy_forward`: the client's address to the backend by IMAP ID / POP3 XCLIENT. */
  proxyForward: boolean;
  /** Postern extension `postern_ssl_session_store`: TLS sessions by id in Redis (absent: off). */
  sessionStore?: SessionStoreUrl;
}

/** `postern_ssl_session_store redis://HOST:PORT[/DB]`. */
export interface SessionStoreUrl {
  /** As written, for log lines. */
  text: string;
  host: string;
  port: number;
  db: number;
}

export type ProxySslMode = 'off' | 'on' | 'starttls';

/** The `postern_proxy_ssl*` extension directives (nginx's `proxy_ssl_*`, for the mail backend). */
export interface ProxySslConfig {
  /** `off`, `on` (implicit TLS to the backend port) or `starttls` (STLS/STARTTLS before the login). */
  mode: ProxySslMode;
  /** Check the chain against `trustedCertificate` and the name against `name` (default off). */
  verify: boolean;
  trustedCertificate?: string;
  /** Name to verify and to send as SNI; absent: the `Auth-Server` host. */
  name?: string;
  /** Send SNI (default off). */
  serverName: boolean;
  /** Client certificate and key presented to the backend. */
  certificate?: string;
  certificateKey?: string;
  protocols: string[];
  ciphers: string;
  /** Resume sessions with the same backend (default on). */
  sessionReuse: boolean;
  /** Where each `postern_proxy_ssl*` directive in effect was written, by name. */
  where: Partial<Record<string, Where>>;
}

export interface MailConfig {
  /** File the configuration came from (`<embedded>` for the built-in default). */
  file: string;
  servers: ServerConfig[];
  /** The top-level `error_log`s. */
  errorLogs?: ErrorLogConfig[];
  /** `postern_metrics_listen` (main or mail context): where `/metrics` and `/healthz` are served. */
  metricsListen?: { host: string; port: number; text: string };
  /** `postern_log_format` (main context): nginx's text lines (default) or pino JSON. */
  logFormat?: 'text' | 'json';
  /** `events { worker_connections }` (default 512): the per-process connection pool, counted as nginx does. */
  workerConnections: number;
  /** `worker_processes` (main context; default 1, `auto` = the number of CPUs). */
  workerProcesses: number;
  /** `pid` (main context): file holding the master's process id, for `postern -s reload|stop|quit`. */
  pidFile?: string;
  /**
   * The account the workers switch to, when Postern was started as root: `user` (main context),
   * else nginx's default (nobody and its group). Absent when not root: nothing to switch.
   */
  user?: { user: string; group: string; uid: number; gid: number; where?: Where };
  /** `worker_rlimit_nofile` (main context): the open-files limit of each worker. */
  workerRlimitNofile?: number;
  /** `worker_shutdown_timeout` (main context): how long a graceful stop waits for sessions (absent: until they end). */
  workerShutdownTimeoutMs?: number;
  /** Notices printed by the parser (e.g. skipped non-mail blocks, deprecated `ssl on`). */
  notices: string[];
  /** Warnings printed by the parser (e.g. `user` when not started as root). */
  warnings?: string[];
}
