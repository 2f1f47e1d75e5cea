/**
 * Merging `mail { }` settings into each `server { }` and the checks nginx makes while merging.
 * Checks run in nginx's module order over all servers (core: protocol; ssl: certificates;
 * auth_http: presence), so the first error reported is the one `nginx -t` reports.
 */
import { hostname } from 'node:os';
import { defaultValue, directiveByName } from '../directives.js';
import type { DirectiveName, DirectiveValues, SessionCacheSetting, ValueOf } from '../directive-values.js';
import { ConfigError } from '../errors.js';
import { resolveProxySsl } from '../extension-directives.js';
import type { Level, Setting } from '../level.js';
import type { Protocol, ServerConfig, SessionCacheConfig, SslConfig, VerifyClient, Where } from '../types.js';

/** The machine's host name, lower-cased as nginx does. */
export const defaultServerName = (): string => hostname().toLowerCase();

/** The value a server sees for a directive: its own, else the mail block's, else the default. */
function effective(server: Level, mail: Level, name: string): Setting | undefined {
  const spec = directiveByName.get(name);
  if (!spec) throw new Error(`no directive "${name}" in the table`);
  const own = server.settings.get(name);
  if (own || spec.merge === 'server') return own;
  return mail.settings.get(name);
}

/** Lists are copied so that servers never share (and never mutate) one array. */
const copy = <T>(v: T): T => (Array.isArray(v) ? (v.map((x: unknown) => (Array.isArray(x) ? [...x] : x)) as T) : v);

/** A directive's merged value; its type comes from `DirectiveValues` (the one place that names it). */
function value<K extends DirectiveName>(server: Level, mail: Level, name: K): DirectiveValues[K] {
  const setting = effective(server, mail, name);
  // Settings hold what the directive's parser returned, stored untyped in the level's map.
  if (setting) return copy(setting.value as DirectiveValues[K]);
  return defaultValue(directiveByName.get(name)!) as DirectiveValues[K];
}

interface TlsCheck {
  mode: 'listen ... ssl' | 'ssl' | 'starttls';
  where: Where;
}

function tlsMode(server: Level, mail: Level): TlsCheck | undefined {
  const sslOn = value(server, mail, 'ssl');
  const starttls = value(server, mail, 'starttls');
  const mode = server.hasListenSsl ? 'listen ... ssl' : sslOn ? 'ssl' : starttls !== 'off' ? 'starttls' : undefined;
  if (!mode) return undefined;
  return { mode, where: server.sslWhere ?? mail.sslWhere ?? server.where };
}

function checkCertificates(server: Level, mail: Level): void {
  const check = tlsMode(server, mail);
  if (!check) return;
  const at = (reason: string) => ConfigError.at(reason, check.where);
  const certificates = value(server, mail, 'ssl_certificate');
  const keys = value(server, mail, 'ssl_certificate_key');
  if (!certificates) throw at(`no "ssl_certificate" is defined for the "${check.mode}" directive`);
  if (!keys) throw at(`no "ssl_certificate_key" is defined for the "${check.mode}" directive`);
  if (keys.length < certificates.length) {
    const last = certificates[certificates.length - 1]!;
    throw at(`no "ssl_certificate_key" is defined for certificate "${last.written}" and the "${check.mode}" directive`);
  }
  // nginx 1.22 (before 1.27.2, which also accepts ssl_trusted_certificate); nginx names no line here.
  const verify = effective(server, mail, 'ssl_verify_client');
  const mode = verify?.value as VerifyClient | undefined;
  if ((mode === 'on' || mode === 'optional') && !effective(server, mail, 'ssl_client_certificate')) {
    throw ConfigError.at('no ssl_client_certificate for ssl_verify_client', verify!.where);
  }
}

/**
 * `ssl_session_cache` merged as ngx_mail_ssl_merge_conf does: the builtin part and the shared
 * zone are inherited separately, and `off`/`none` win over a shared zone.
 */
function sessionCache(server: Level, mail: Level): SessionCacheConfig {
  const own = server.settings.get('ssl_session_cache')?.value as SessionCacheSetting | undefined;
  const inherited = mail.settings.get('ssl_session_cache')?.value as SessionCacheSetting | undefined;
  const builtin = own?.builtin ?? inherited?.builtin ?? 'none';
  const shared = own?.shared ?? inherited?.shared;
  if (builtin === 'off') return { off: true };
  if (builtin === 'none') return { off: false };
  const cache: SessionCacheConfig = { off: false };
  if (builtin !== 'no_builtin') cache.builtinSessions = builtin.sessions;
  if (shared) cache.shared = { ...shared };
  return cache;
}

/** Directives whose location SslConfig.where keeps (for errors about the files and values they name). */
const SSL_WHERE = [
  'ssl_certificate_key', 'ssl_password_file', 'ssl_protocols', 'ssl_ciphers', 'ssl_dhparam', 'ssl_ecdh_curve',
  'ssl_session_cache', 'ssl_session_ticket_key', 'ssl_verify_client', 'ssl_client_certificate', 'ssl_trusted_certificate',
  'ssl_crl', 'ssl_conf_command',
];

function sslConfig(server: Level, mail: Level): SslConfig {
  const get: ValueOf = (name) => value(server, mail, name);
  const path = (name: 'ssl_password_file' | 'ssl_dhparam' | 'ssl_client_certificate' | 'ssl_trusted_certificate' | 'ssl_crl'): string | undefined =>
    get(name)?.path;
  const certificates = effective(server, mail, 'ssl_certificate');
  const ssl: SslConfig = {
    certificates: (get('ssl_certificate') ?? []).map((p) => p.path),
    certificateKeys: (get('ssl_certificate_key') ?? []).map((p) => p.path),
    protocols: get('ssl_protocols'),
    ciphers: get('ssl_ciphers'),
    preferServerCiphers: get('ssl_prefer_server_ciphers'),
    sessionCache: sessionCache(server, mail),
    sessionTimeoutMs: get('ssl_session_timeout'),
    sessionTickets: get('ssl_session_tickets'),
    sessionTicketKeys: (get('ssl_session_ticket_key') ?? []).map((p) => p.path),
    ecdhCurve: get('ssl_ecdh_curve'),
    verifyClient: get('ssl_verify_client'),
    verifyDepth: get('ssl_verify_depth'),
    confCommands: get('ssl_conf_command') ?? [],
    sniCertificates: get('postern_ssl_sni_certificate') ?? [],
    where: {},
  };
  const optional = { passwordFile: 'ssl_password_file', dhparam: 'ssl_dhparam', clientCertificate: 'ssl_client_certificate',
    trustedCertificate: 'ssl_trusted_certificate', crl: 'ssl_crl' } as const;
  for (const [field, name] of Object.entries(optional) as Array<[keyof typeof optional, (typeof optional)[keyof typeof optional]]>) {
    const file = path(name);
    if (file !== undefined) ssl[field] = file;
  }
  if (certificates) ssl.certificateWhere = certificates.where;
  for (const name of SSL_WHERE) {
    const setting = effective(server, mail, name);
    if (setting) ssl.where[name] = setting.where;
  }
  return ssl;
}

function build(server: Level, mail: Level): ServerConfig {
  const get: ValueOf = (name) => value(server, mail, name);
  const serverName = get('server_name');
  const errorLogs = get('error_log');
  const config: ServerConfig = {
    where: server.where,
    listens: [...server.listens],
    protocol: server.protocol as Protocol,
    serverName: serverName === undefined || serverName === '' ? defaultServerName() : serverName,
    timeoutMs: get('timeout'),
    maxErrors: get('max_errors'),
    authHttp: get('auth_http'),
    authHttpHeaders: get('auth_http_header') ?? [],
    authHttpTimeoutMs: get('auth_http_timeout'),
    proxyBufferSize: get('proxy_buffer'),
    proxyTimeoutMs: get('proxy_timeout'),
    proxyPassErrorMessage: get('proxy_pass_error_message'),
    pop3Auth: get('pop3_auth'),
    pop3Capabilities: get('pop3_capabilities'),
    imapAuth: get('imap_auth'),
    imapCapabilities: get('imap_capabilities'),
    imapClientBuffer: get('imap_client_buffer'),
    smtpAuth: get('smtp_auth'),
    smtpCapabilities: get('smtp_capabilities'),
    smtpClientBuffer: get('smtp_client_buffer'),
    smtpGreetingDelayMs: get('smtp_greeting_delay'),
    sieveAuth: get('postern_sieve_auth'),
    sieveCapabilities: get('postern_sieve_capabilities'),
    sieveClientBuffer: get('postern_sieve_client_buffer'),
    xclient: get('xclient'),
    proxySmtpAuth: get('proxy_smtp_auth'),
    resolverTimeoutMs: get('resolver_timeout'),
    starttls: get('starttls'),
    sslOn: get('ssl'),
    ssl: sslConfig(server, mail),
    authHttpPassClientCert: get('auth_http_pass_client_cert'),
    proxySsl: resolveProxySsl((name) => effective(server, mail, name), get),
    realIpFrom: get('set_real_ip_from') ?? [],
    proxyProtocol: get('proxy_protocol'),
    proxyForward: get('postern_proxy_forward'),
  };
  const resolver = get('resolver');
  if (resolver) config.resolver = resolver;
  const limitConnPerIp = get('postern_limit_conn_per_ip');
  if (limitConnPerIp !== null) config.limitConnPerIp = limitConnPerIp;
  const sessionStore = get('postern_ssl_session_store');
  if (sessionStore !== null) config.sessionStore = sessionStore;
  const accessLog = get('postern_access_log');
  if (accessLog) config.accessLog = accessLog;
  const journal = get('postern_journal');
  if (journal) config.journalDir = journal.path;
  if (errorLogs) config.errorLogs = errorLogs;
  return config;
}

/** Every server of the mail block, merged and checked. */
export function resolveServers(mail: Level, servers: readonly Level[]): ServerConfig[] {
  // ngx_mail_core_module
  for (const server of servers) {
    if (server.protocol === undefined) throw ConfigError.at('unknown mail protocol for server', server.where);
  }
  // ngx_mail_ssl_module
  for (const server of servers) checkCertificates(server, mail);
  // ngx_mail_auth_http_module
  for (const server of servers) {
    if (!effective(server, mail, 'auth_http')) throw ConfigError.at('no "auth_http" is defined for server', server.where);
  }
  return servers.map((server) => build(server, mail));
}
