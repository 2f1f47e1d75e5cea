/**
 * Postern extension directives: TLS from the proxy to the backend (`postern_proxy_ssl*`),
 * modelled on nginx's stream/http `proxy_ssl_*` directives (same names after the `postern_`
 * prefix, same defaults; nginx's mail proxy has no TLS to the backend at all), and
 * `postern_limit_conn_per_ip`. See docs/extensions.md.
 */
import { filePath, type ApplyContext, type Context, type DirectiveSpec } from './directive-spec.js';
import { ConfigError } from './errors.js';
import type { ValueOf } from './directive-values.js';
import type { Setting } from './level.js';
import type { ProxySslConfig, ProxySslMode, SessionStoreUrl, Where } from './types.js';
import { parseFlag, parseNumber } from './values.js';
// The context builder lives with its only runtime user; loading it here is nginx's -t check of the files.
import { createBackendContext, BackendTlsSetupError } from '../proxy/backend-tls.js';

const MS: readonly Context[] = ['mail', 'server'];
const PROXY_SSL_MODES: readonly ProxySslMode[] = ['off', 'on', 'starttls'];
const TLS_KEYWORDS = ['SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;

const arg = (ctx: ApplyContext): string => ctx.args[0] ?? '';

const flag = (ctx: ApplyContext): boolean =>
  parseFlag(arg(ctx)) ?? ctx.fail(`invalid value "${arg(ctx)}" in "${ctx.spec.name}" directive, it must be "on" or "off"`);

const mode = (ctx: ApplyContext): ProxySslMode =>
  PROXY_SSL_MODES.find((m) => m === arg(ctx).toLowerCase()) ?? ctx.fail(`invalid value "${arg(ctx)}"`);


const NOT_NGINX = 'A Postern extension, not an nginx directive: nginx refuses it (`unknown directive`). See docs/extensions.md.';

const spec = (s: Omit<DirectiveSpec, 'contexts' | 'merge' | 'supported' | 'postern'> & { postern?: string }): DirectiveSpec => ({
  contexts: MS,
  merge: 'inherit',
  supported: true,
  ...s,
  postern: s.postern === undefined ? NOT_NGINX : `${NOT_NGINX} ${s.postern}`,
});

/** `N | off`: a positive count, or null for off. */
const connectionCount = (ctx: ApplyContext): number | null => {
  if (arg(ctx) === 'off') return null;
  const n = parseNumber(arg(ctx));
  return n !== null && n > 0 ? n : ctx.fail(`invalid number "${arg(ctx)}" in "${ctx.spec.name}" directive`);
};

/** `redis://HOST:PORT[/DB] | off`. */
const sessionStoreUrl = (ctx: ApplyContext): SessionStoreUrl | null => {
  const text = arg(ctx);
  if (text === 'off') return null;
  const match = /^redis:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})(?:\/(\d{1,5}))?$/.exec(text);
  const port = Number(match?.[2]);
  if (match === null || port < 1 || port > 65535) {
    ctx.fail(`invalid value "${text}" in "${ctx.spec.name}" directive, it must be "redis://HOST:PORT[/DB]" or "off"`);
  }
  return { text, host: match[1]!.replace(/^\[|\]$/g, ''), port, db: Number(match[3] ?? 0) };
};

export const extensionDirectives: readonly DirectiveSpec[] = [
  spec({ name: 'postern_ssl_session_store', arity: 'take1', syntax: 'redis://host:port[/db] | off', default: 'off', store: 'once', parse: sessionStoreUrl,
    description: 'Postern extension: keep TLS sessions by id (TLS 1.2 session ids; TLS 1.3 with `ssl_session_tickets off`) in Redis, each for `ssl_session_timeout`, so that a session made on one instance resumes on every instance using the same Redis. Asked after `ssl_session_cache`\'s own stores; ignored with `ssl_session_cache off`. While Redis is unreachable or slow (500 ms), handshakes complete without resumption; the outage is logged once when it starts and once when it ends.',
    postern: 'Tickets (`ssl_session_tickets on`, the default) need no store across instances: give every instance the same `ssl_session_ticket_key` files. See docs/operations.md.' }),
  spec({ name: 'postern_limit_conn_per_ip', arity: 'take1', syntax: 'number | off', default: 'off', store: 'once', parse: connectionCount,
    description: 'Postern extension: at most this many concurrent connections from one client address to this server, per process; one more is answered with the protocol\'s internal-error line and closed (on an `ssl` listen: closed before the handshake).' }),
  spec({ name: 'postern_proxy_forward', arity: 'flag', syntax: 'on | off', default: 'off', store: 'once', parse: flag,
    description: 'Postern extension: tell the backend who the client is without the PROXY protocol, the way Dovecot\'s own proxy does. IMAP: when the backend\'s greeting lists `ID`, `ID ("x-originating-ip" ... "x-originating-port" ... "x-connected-ip" ... "x-connected-port" ... "x-session-id" ...)` before LOGIN; POP3: when the greeting advertises `[XCLIENT]`, `XCLIENT ADDR=... PORT=... SESSION=...` before USER. The backend honours these only from its trusted networks (Dovecot: `login_trusted_networks`).' }),
  spec({ name: 'postern_proxy_ssl', arity: 'take1', syntax: 'off | on | starttls', default: 'off', store: 'once', parse: mode,
    description: 'Postern extension: TLS to the backend the auth service names. `on`: implicit TLS to `Auth-Server:Auth-Port`; `starttls`: plaintext connect, then STLS (POP3) or STARTTLS (IMAP; SMTP after EHLO) before logging in.' }),
  spec({ name: 'postern_proxy_ssl_verify', arity: 'flag', syntax: 'on | off', default: 'off', store: 'once', parse: flag,
    description: 'Postern extension: verify the backend\'s certificate against `postern_proxy_ssl_trusted_certificate` and its name against `postern_proxy_ssl_name` (nginx\'s `proxy_ssl_verify`).' }),
  spec({ name: 'postern_proxy_ssl_trusted_certificate', arity: 'take1', syntax: 'file', store: 'once', parse: filePath,
    description: 'Postern extension: PEM CA certificates that verify the backend (required by `postern_proxy_ssl_verify on`).' }),
  spec({ name: 'postern_proxy_ssl_name', arity: 'take1', syntax: 'name', defaultText: 'the `Auth-Server` host', store: 'once', parse: (ctx) => arg(ctx),
    description: 'Postern extension: the name the backend certificate is checked against, and sent as SNI with `postern_proxy_ssl_server_name on`.' }),
  spec({ name: 'postern_proxy_ssl_server_name', arity: 'flag', syntax: 'on | off', default: 'off', store: 'once', parse: flag,
    description: 'Postern extension: send `postern_proxy_ssl_name` as SNI to the backend (never an IP address, as nginx).' }),
  spec({ name: 'postern_proxy_ssl_certificate', arity: 'take1', syntax: 'file', store: 'once', parse: filePath,
    description: 'Postern extension: PEM client certificate presented to the backend.' }),
  spec({ name: 'postern_proxy_ssl_certificate_key', arity: 'take1', syntax: 'file', store: 'once', parse: filePath,
    description: 'Postern extension: PEM private key of `postern_proxy_ssl_certificate`.' }),
  spec({ name: 'postern_proxy_ssl_protocols', arity: '1more', syntax: '[SSLv2] [SSLv3] [TLSv1] [TLSv1.1] [TLSv1.2] [TLSv1.3]', default: 'TLSv1.2 TLSv1.3',
    store: 'bitmask', keywords: TLS_KEYWORDS,
    description: 'Postern extension: TLS versions offered to the backend.' }),
  spec({ name: 'postern_proxy_ssl_ciphers', arity: 'take1', syntax: 'ciphers', default: 'DEFAULT', store: 'once', parse: (ctx) => arg(ctx),
    description: 'Postern extension: OpenSSL cipher list offered to the backend (TLS 1.2 and below).' }),
  spec({ name: 'postern_proxy_ssl_session_reuse', arity: 'flag', syntax: 'on | off', default: 'on', store: 'once', parse: flag,
    description: 'Postern extension: resume TLS sessions with the backend (one remembered session per backend address and name, per server).' }),
];

/**
 * The `postern_proxy_ssl*` settings a server sees, checked as nginx checks `proxy_ssl_*` when
 * proxying over TLS is enabled (and, beyond nginx, with the file and line of the directive):
 * a verify without trusted CAs, a certificate without its key, and files that do not load.
 */
export function resolveProxySsl(setting: (name: string) => Setting | undefined, value: ValueOf): ProxySslConfig {
  const path = (name: 'postern_proxy_ssl_trusted_certificate' | 'postern_proxy_ssl_certificate' | 'postern_proxy_ssl_certificate_key'): string | undefined =>
    value(name)?.path;
  const where: Partial<Record<string, Where>> = {};
  for (const d of extensionDirectives) {
    const at = setting(d.name)?.where;
    if (at) where[d.name] = at;
  }
  const config: ProxySslConfig = {
    mode: value('postern_proxy_ssl'),
    verify: value('postern_proxy_ssl_verify'),
    serverName: value('postern_proxy_ssl_server_name'),
    protocols: value('postern_proxy_ssl_protocols'),
    ciphers: value('postern_proxy_ssl_ciphers'),
    sessionReuse: value('postern_proxy_ssl_session_reuse'),
    where,
  };
  const name = value('postern_proxy_ssl_name');
  if (name !== undefined) config.name = name;
  const trusted = path('postern_proxy_ssl_trusted_certificate');
  if (trusted !== undefined) config.trustedCertificate = trusted;
  const certificate = path('postern_proxy_ssl_certificate');
  if (certificate !== undefined) config.certificate = certificate;
  const key = path('postern_proxy_ssl_certificate_key');
  if (key !== undefined) config.certificateKey = key;
  if (config.mode !== 'off') checkProxySsl(config);
  return config;
}

function checkProxySsl(config: ProxySslConfig): void {
  const at = (reason: string, directive: string): ConfigError => {
    const w = config.where[directive] ?? config.where['postern_proxy_ssl']!;
    return ConfigError.at(reason, w);
  };
  if (config.verify && config.trustedCertificate === undefined) {
    throw at('no "postern_proxy_ssl_trusted_certificate" for "postern_proxy_ssl_verify"', 'postern_proxy_ssl_verify');
  }
  if (config.certificate !== undefined && config.certificateKey === undefined) {
    throw at(`no "postern_proxy_ssl_certificate_key" is defined for certificate "${config.certificate}"`, 'postern_proxy_ssl_certificate');
  }
  if (config.certificate === undefined && config.certificateKey !== undefined) {
    throw at('no "postern_proxy_ssl_certificate" is defined for "postern_proxy_ssl_certificate_key"', 'postern_proxy_ssl_certificate_key');
  }
  try {
    createBackendContext(config);
  } catch (error) {
    if (error instanceof BackendTlsSetupError) throw at(error.message, error.directive);
    throw error;
  }
}
