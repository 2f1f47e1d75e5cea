/**
 * The directive table: the single source of truth for what Postern accepts in a `mail { }`
 * configuration. Parsing (contexts, argument counts, value syntax, duplicates), defaults, merging
 * from `mail` to `server`, and docs/configuration.md are all driven from here.
 *
 * To enable a directive that is recognised but not supported yet: set `supported: true`, give it
 * a `store`/`parse`, and read it in merge/resolve.ts.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import { AddressError, canonicalIPv6, isIPv6Address, parseAuthHttpUrl, parseListenAddress } from './addresses.js';
import { ConfigError } from './errors.js';
import { extensionDirectives } from './extension-directives.js';
import { sieveDirectives } from './sieve-directives.js';
import { sniDirective } from './sni-directive.js';
import { realIpDirective } from './realip-directive.js';
import { newLevel, type PathValue } from './level.js';
import { applyListen } from './listen.js';
import { parseSyslogTarget } from './syslog.js';
import { groupId, runsAsRoot, userId } from './accounts.js';
import { PROTOCOLS, type AccessLogConfig, type AuthHttpTarget, type ErrorLogConfig, type MailConfig, type ResolverConfig, type ResolverServer, type Where } from './types.js';
import { parseFlag, parseNumber, parseSize, parseTime } from './values.js';
import type { SessionCacheSetting } from './directive-values.js';
import { filePath, prefixPath, type ApplyContext, type Arity, type Context, type DirectiveSpec } from './directive-spec.js';

export type { ApplyContext, Arity, Context, DirectiveSpec, MergeRule, StoreMode } from './directive-spec.js';

// ---------------------------------------------------------------------------------------------
// Value parsers shared by several directives

const arg = (ctx: ApplyContext, i = 0): string => ctx.args[i] ?? '';

const time = (ctx: ApplyContext): number => parseTime(arg(ctx), 'ms') ?? ctx.failDirective('invalid value');
/** `ngx_conf_set_sec_slot`: seconds (no `ms`, `M` and `y` allowed), returned in milliseconds. */
const seconds = (ctx: ApplyContext): number => {
  const s = parseTime(arg(ctx), 's');
  return s === null ? ctx.failDirective('invalid value') : s * 1000;
};
const size = (ctx: ApplyContext): number => parseSize(arg(ctx)) ?? ctx.failDirective('invalid value');
const number = (ctx: ApplyContext): number => parseNumber(arg(ctx)) ?? ctx.failDirective('invalid number');
const text = (ctx: ApplyContext): string => arg(ctx);
const words = (ctx: ApplyContext): string[] => [...ctx.args];

const flag = (ctx: ApplyContext): boolean =>
  parseFlag(arg(ctx)) ??
  ctx.fail(`invalid value "${arg(ctx)}" in "${ctx.spec.name}" directive, it must be "on" or "off"`);

const oneOf =
  (values: readonly string[]) =>
  (ctx: ApplyContext): string =>
    values.find((v) => v.toLowerCase() === arg(ctx).toLowerCase()) ?? ctx.fail(`invalid value "${arg(ctx)}"`);


/** `postern_access_log path [text|json] | off`: `null` for off. */
const accessLogValue = (ctx: ApplyContext): AccessLogConfig | null => {
  if (arg(ctx) === 'off') return ctx.args.length === 1 ? null : ctx.fail('invalid parameter "off"');
  const format = ctx.args[1] ?? 'text';
  if (format !== 'text' && format !== 'json') ctx.fail(`invalid log format "${format}"`);
  return { path: filePath(ctx).path, format };
};

/** `postern_metrics_listen address:port`, checked as `listen` checks its address. */
const metricsAddress = (ctx: ApplyContext): NonNullable<MailConfig['metricsListen']> => {
  try {
    const { host, port } = parseListenAddress(arg(ctx));
    return { host, port, text: arg(ctx) };
  } catch (error) {
    if (error instanceof AddressError) return ctx.fail(`${error.message} in "${arg(ctx)}" of the "postern_metrics_listen" directive`);
    throw error;
  }
};

/** `postern_journal directory | off`: `null` for off, else the directory resolved like a file path. */
const journalDirectory = (ctx: ApplyContext): PathValue | null => (arg(ctx) === 'off' ? null : filePath(ctx));

/** One name server address of `resolver`: `addr[:port]` or `[v6addr][:port]`, port default 53. */
function resolverServer(ctx: ApplyContext, text: string): ResolverServer {
  const bad = (err: string): never => ctx.fail(`${err} in resolver "${text}"`);
  const port = (p: string | undefined): number => {
    if (p === undefined) return 53;
    const n = parseNumber(p);
    return n === null || n < 1 || n > 65535 ? bad('invalid port') : n;
  };
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return bad('invalid host');
    const inner = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return bad('invalid host');
    if (!isIPv6Address(inner)) return bad('invalid IPv6 address');
    return { host: canonicalIPv6(inner), port: port(rest === '' ? undefined : rest.slice(1)) };
  }
  const colon = text.indexOf(':');
  const host = colon < 0 ? text : text.slice(0, colon);
  if (host === '') return bad('no host');
  if (!isIPv4(host)) {
    if (isIPv6(text)) return bad('invalid port');
    ctx.fail(`host names in "resolver" are not supported yet, use IP addresses`);
  }
  return { host, port: port(colon < 0 ? undefined : text.slice(colon + 1)) };
}

/** `resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off] | off`, checked like ngx_resolver_create. */
function parseResolver(ctx: ApplyContext): ResolverConfig | null {
  if (ctx.args.length === 1 && ctx.args[0] === 'off') return null;
  const config: ResolverConfig = { servers: [], ipv4: true, ipv6: true };
  const onOff = (a: string, value: string): boolean =>
    value === 'on' ? true : value === 'off' ? false : ctx.fail(`invalid parameter: ${a}`);
  for (const a of ctx.args) {
    if (a.startsWith('valid=')) {
      const ms = parseTime(a.slice(6), 'ms');
      if (ms === null || a.length === 6) ctx.fail(`invalid parameter: ${a}`);
      config.validMs = ms;
    } else if (a.startsWith('ipv4=')) {
      config.ipv4 = onOff(a, a.slice(5));
    } else if (a.startsWith('ipv6=')) {
      config.ipv6 = onOff(a, a.slice(5));
    } else if (a.startsWith('status_zone=')) {
      ctx.fail(`the "status_zone" parameter of "resolver" is not supported yet`);
    } else {
      config.servers.push(resolverServer(ctx, a));
    }
  }
  if (!config.ipv4 && !config.ipv6) ctx.fail('"ipv4" and "ipv6" cannot both be "off"');
  if (config.servers.length === 0) ctx.fail('no name servers defined');
  return config;
}

const STARTTLS_MODES = ['off', 'on', 'only'] as const;
const LOG_LEVELS: readonly ErrorLogConfig['level'][] = ['emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'];
const DEBUG_LEVELS = ['debug_core', 'debug_alloc', 'debug_mutex', 'debug_event', 'debug_http', 'debug_mail', 'debug_stream'];

/** `error_log file [level ...]` as nginx's ngx_log_set_log/ngx_log_set_levels check it. */
export function parseErrorLog(ctx: ApplyContext): ErrorLogConfig {
  const [target, ...levels] = ctx.args as [string, ...string[]];
  if (target.startsWith('memory:')) ctx.fail('"memory:" targets of the "error_log" directive are not supported yet');
  const syslog = target.startsWith('syslog:') ? parseSyslogTarget(target.slice('syslog:'.length), ctx.fail) : undefined;
  let level: ErrorLogConfig['level'] | undefined;
  let debug = false;
  for (const word of levels) {
    if ((LOG_LEVELS as readonly string[]).includes(word)) {
      if (level !== undefined || debug) ctx.fail(`duplicate log level "${word}"`);
      level = word as ErrorLogConfig['level'];
    } else if (DEBUG_LEVELS.includes(word)) {
      if (level !== undefined && level !== 'debug') ctx.fail(`invalid log level "${word}"`);
      debug = true;
    } else {
      ctx.fail(`invalid log level "${word}"`);
    }
  }
  const path = syslog !== undefined || target === 'stderr' ? target : prefixPath(ctx, target);
  const log: ErrorLogConfig = { target: path, level: level ?? (debug ? 'debug' : 'error') };
  if (syslog !== undefined) log.syslog = syslog;
  return log;
}

/** Several `error_log`s in one context each take the lines at or above their own level, as in nginx. */
function applyErrorLog(ctx: ApplyContext): void {
  const log = parseErrorLog(ctx);
  const logs = ctx.level.settings.get('error_log')?.value as ErrorLogConfig[] | undefined;
  if (logs !== undefined) logs.push(log);
  else ctx.level.settings.set('error_log', { value: [log], where: ctx.where });
}

function applyProtocol(ctx: ApplyContext): void {
  const value = arg(ctx);
  const protocol = PROTOCOLS.find((name) => name === value);
  if (protocol === undefined) ctx.fail(`unknown protocol "${value}"`);
  ctx.level.protocol = protocol;
}

function applySsl(ctx: ApplyContext): void {
  const { level } = ctx;
  if (level.settings.has('ssl')) ctx.failDirective('is duplicate');
  const on = ctx.spec.parse!(ctx) as boolean;
  level.settings.set('ssl', { value: on, where: ctx.where });
  ctx.notice('the "ssl" directive is deprecated, use the "listen ... ssl" directive instead');
  const starttls = level.settings.get('starttls')?.value;
  if (on && starttls !== undefined && starttls !== 'off') ctx.fail('"starttls" directive conflicts with "ssl on"');
  if (!level.hasListenSsl) level.sslWhere = ctx.where;
}

function applyStarttls(ctx: ApplyContext): void {
  const { level } = ctx;
  if (level.settings.has('starttls')) ctx.failDirective('is duplicate');
  const mode = ctx.spec.parse!(ctx) as string;
  level.settings.set('starttls', { value: mode, where: ctx.where });
  if (level.settings.get('ssl')?.value === true && mode !== 'off') ctx.fail('"ssl" directive conflicts with "starttls"');
  if (!level.hasListenSsl) level.sslWhere = ctx.where;
}

/** Where each `auth_http` was written, for `-t`'s "host not found" (kept out of the value: it is compared whole). */
const authHttpWheres = new WeakMap<AuthHttpTarget, Where>();
export const authHttpWhere = (target: AuthHttpTarget): Where | undefined => authHttpWheres.get(target);

function authHttp(ctx: ApplyContext): unknown {
  try {
    const target = parseAuthHttpUrl(arg(ctx));
    authHttpWheres.set(target, ctx.where);
    return target;
  } catch (error) {
    if (error instanceof AddressError) ctx.fail(error.message);
    throw error;
  }
}


/** nginx's OpenSSL default for `builtin` without a size. */
export const BUILTIN_SESSION_CACHE_DEFAULT = 20480;
/** Smallest shared cache nginx accepts: 8 memory pages. */
const SHARED_CACHE_MIN = 8 * 4096;

/** `ssl_session_cache`: words applied in order over what this level already has (no "is duplicate" in nginx). */
function applySessionCache(ctx: ApplyContext): void {
  const previous = ctx.level.settings.get('ssl_session_cache')?.value as SessionCacheSetting | undefined;
  const cache: SessionCacheSetting = { ...previous };
  const invalid = (word: string): never => ctx.fail(`invalid session cache "${word}"`);
  for (const word of ctx.args) {
    if (word === 'off' || word === 'none') {
      cache.builtin = word;
    } else if (word === 'builtin') {
      cache.builtin = { sessions: BUILTIN_SESSION_CACHE_DEFAULT };
    } else if (word.startsWith('builtin:') && word.length > 8) {
      const sessions = parseNumber(word.slice(8));
      cache.builtin = { sessions: sessions ?? invalid(word) };
    } else if (word.startsWith('shared:') && word.length > 7) {
      const rest = word.slice(7);
      const colon = rest.indexOf(':');
      const name = colon < 0 ? rest : rest.slice(0, colon);
      if (name === '' || colon < 0) invalid(word);
      const sizeBytes = parseSize(rest.slice(colon + 1)) ?? invalid(word);
      if (sizeBytes < SHARED_CACHE_MIN) ctx.fail(`session cache "${word}" is too small`);
      const declared = ctx.state.sharedZones.get(name);
      if (declared !== undefined && declared !== sizeBytes) {
        ctx.fail(`the size ${sizeBytes} of shared memory zone "${name}" conflicts with already declared size ${declared}`);
      }
      ctx.state.sharedZones.set(name, sizeBytes);
      cache.shared = { name, sizeBytes };
    } else {
      invalid(word);
    }
  }
  // nginx: `shared` alone (in this occurrence or an earlier one at this level) turns the builtin cache off.
  if (cache.shared && cache.builtin === undefined) cache.builtin = 'no_builtin';
  ctx.level.settings.set('ssl_session_cache', { value: cache, where: ctx.where });
}

/** `worker_processes number | auto` (main context), as ngx_set_worker_processes. */
function applyWorkerProcesses(ctx: ApplyContext): void {
  if (ctx.state.workerProcesses !== undefined) ctx.failDirective('is duplicate');
  const text = arg(ctx);
  ctx.state.workerProcesses = text === 'auto' ? availableParallelism() : (parseNumber(text) ?? ctx.failDirective('invalid value'));
}

/** `pid file` (main context), a string slot: duplicate is an error. */
function applyPid(ctx: ApplyContext): void {
  if (ctx.state.pidFile !== undefined) ctx.failDirective('is duplicate');
  ctx.state.pidFile = prefixPath(ctx, arg(ctx));
}

/**
 * `user USER [GROUP]` (main context), as ngx_set_user: the accounts are looked up only when
 * running as root; otherwise the directive is ignored with a warning (and so never "is duplicate").
 */
function applyUser(ctx: ApplyContext): void {
  if (!runsAsRoot()) {
    ctx.warn('the "user" directive makes sense only if the master process runs with super-user privileges, ignored');
    return;
  }
  if (ctx.level.settings.has('user')) ctx.failDirective('is duplicate');
  const [name, group = name] = ctx.args as [string, string?];
  const uid = userId(name) ?? ctx.fail(`getpwnam("${name}") failed`);
  const gid = groupId(group) ?? ctx.fail(`getgrnam("${group}") failed`);
  ctx.level.settings.set('user', { value: { user: name, group, uid, gid, where: ctx.where }, where: ctx.where });
}

/** `worker_connections number` (events), as ngx_event_connections words its error. */
const connections = (ctx: ApplyContext): number => parseNumber(arg(ctx)) ?? ctx.fail(`invalid number "${arg(ctx)}"`);

/** `use method` (events): the event methods Debian's nginx 1.22.1 knows on Linux. */
const eventMethod = (ctx: ApplyContext): string =>
  arg(ctx) === 'epoll' || arg(ctx) === 'event_core' ? arg(ctx) : ctx.fail(`invalid event type "${arg(ctx)}"`);

const VERIFY_CLIENT = ['off', 'on', 'optional', 'optional_no_ca'] as const;

/** SSL_CONF commands whose value is a file or directory: nginx resolves it like any path. */
const CONF_COMMAND_PATHS = new Set([
  'certificate', 'privatekey', 'serverinfofile', 'chaincapath', 'chaincafile', 'verifycapath', 'verifycafile',
  'requestcafile', 'clientcafile', 'requestcapath', 'clientcapath', 'dhparameters',
]);

/** `ssl_conf_command name value`: one `[name, value]` pair, file values resolved. */
function confCommand(ctx: ApplyContext): Array<[string, string]> {
  const name = arg(ctx, 0);
  if (!CONF_COMMAND_PATHS.has(name.toLowerCase())) return [[name, arg(ctx, 1)]];
  return [[name, filePath({ ...ctx, args: [arg(ctx, 1)] }).path]];
}

// ---------------------------------------------------------------------------------------------
// The table

const MS: readonly Context[] = ['mail', 'server'];
const EVENTS: readonly Context[] = ['events'];

/** Declares a directive that is recognised but refused for now (see DirectiveSpec.supported). */
const later = (name: string, arity: Arity, syntax: string, description: string, contexts: readonly Context[] = MS): DirectiveSpec => ({
  name,
  contexts,
  arity,
  syntax,
  store: 'none',
  merge: 'inherit',
  supported: false,
  description,
});

export const directives: readonly DirectiveSpec[] = [
  // ---- ngx_mail_core_module
  { name: 'mail', contexts: ['main'], arity: 'none', block: true, syntax: '{ ... }', store: 'none', merge: 'block', supported: true,
    description: 'The mail proxy configuration; exactly one per configuration.' },
  { name: 'server', contexts: ['mail'], arity: 'none', block: true, syntax: '{ ... }', store: 'none', merge: 'block', supported: true,
    description: 'One proxied service: its listen sockets, protocol and settings.' },
  { name: 'include', contexts: ['main', 'mail', 'server'], arity: 'take1', syntax: 'file | mask', store: 'none', merge: 'block', supported: true,
    description: 'Reads another file (or every file matching a glob) in place; relative to the main file\'s directory.' },
  { name: 'worker_processes', contexts: ['main'], arity: 'take1', syntax: 'number | auto', defaultText: '`worker_processes 1;`', store: 'custom', apply: applyWorkerProcesses, merge: 'main', supported: true,
    description: 'Number of worker processes; `auto` is the number of CPUs (`os.availableParallelism()`).' },
  { name: 'pid', contexts: ['main'], arity: 'take1', syntax: 'file', defaultText: '— (no pid file)', store: 'custom', apply: applyPid, merge: 'main', supported: true,
    description: 'File that holds the main process id (for `postern -s reload|stop|quit|reopen`).',
    postern: 'No pid file unless set (nginx: `logs/nginx.pid`); a relative path is taken from the main file\'s directory (nginx: its prefix).' },
  { name: 'user', contexts: ['main'], arity: 'take12', syntax: 'user [group]', defaultText: '`user nobody nogroup;` (when started as root)', store: 'custom', apply: applyUser, merge: 'main', supported: true,
    description: 'The account the worker processes run as when Postern is started as root (the master stays root); `group` defaults to the user\'s name. Ignored, with a warning, when not started as root.',
    postern: 'The default group is `nobody` where that group exists, else `nogroup` (nginx fixes it when built; Debian\'s nginx has `nogroup`). See docs/operations.md.' },
  { name: 'worker_rlimit_nofile', contexts: ['main'], arity: 'take1', syntax: 'number', defaultText: '—', store: 'once', parse: number, merge: 'main', supported: true,
    description: 'Limit on open files (RLIMIT_NOFILE, soft and hard) of each worker process.',
    postern: 'Set with util-linux `prlimit` (Node.js has no setrlimit); also applied to the single process of a run without workers.' },
  { name: 'worker_shutdown_timeout', contexts: ['main'], arity: 'take1', syntax: 'time', defaultText: '— (wait for every session)', store: 'once', parse: time, merge: 'main', supported: true,
    description: 'How long a graceful stop (`quit`, or the old workers of a reload) waits for sessions before closing them.' },
  { name: 'events', contexts: ['main'], arity: 'none', block: true, syntax: '{ ... }', store: 'none', merge: 'block', supported: true,
    description: 'Connection processing settings: `worker_connections`; the others are accepted, checked and have no effect.',
    postern: 'Optional (nginx requires it: `no "events" section in configuration`).' },
  { name: 'worker_connections', contexts: EVENTS, arity: 'take1', syntax: 'number', default: '512', store: 'once', parse: connections, merge: 'main', supported: true,
    description: 'Connections each worker process may have open, client and backend (and auth service) sockets counted as nginx counts them.' },
  { name: 'use', contexts: EVENTS, arity: 'take1', syntax: 'epoll', store: 'once', parse: eventMethod, merge: 'main', supported: true,
    description: 'Accepted and skipped (Node.js chooses its event method).' },
  { name: 'multi_accept', contexts: EVENTS, arity: 'flag', syntax: 'on | off', store: 'once', parse: flag, merge: 'main', supported: true,
    description: 'Accepted and skipped.' },
  { name: 'accept_mutex', contexts: EVENTS, arity: 'flag', syntax: 'on | off', store: 'once', parse: flag, merge: 'main', supported: true,
    description: 'Accepted and skipped (the kernel spreads connections over the workers, as with nginx\'s default `off`).' },
  { name: 'accept_mutex_delay', contexts: EVENTS, arity: 'take1', syntax: 'time', store: 'once', parse: time, merge: 'main', supported: true,
    description: 'Accepted and skipped.' },
  { name: 'debug_connection', contexts: EVENTS, arity: 'take1', syntax: 'address | CIDR | unix:', store: 'append', parse: words, merge: 'main', supported: true,
    description: 'Accepted and skipped; the value is not checked.' },
  { name: 'epoll_events', contexts: EVENTS, arity: 'take1', syntax: 'number', store: 'once', parse: number, merge: 'main', supported: true,
    description: 'Accepted and skipped.' },
  { name: 'worker_aio_requests', contexts: EVENTS, arity: 'take1', syntax: 'number', store: 'once', parse: number, merge: 'main', supported: true,
    description: 'Accepted and skipped.' },
  { name: 'listen', contexts: ['server'], arity: '1more', store: 'custom', apply: applyListen, merge: 'server', supported: true,
    syntax: 'address:port [ssl] [proxy_protocol] [backlog=number] [rcvbuf=size] [sndbuf=size] [bind] [ipv6only=on|off] [so_keepalive=on|off|[keepidle]:[keepintvl]:[keepcnt]]',
    description: 'Address and port to accept connections on; `ssl` makes it implicit TLS; `proxy_protocol`: every connection starts with a PROXY protocol v1 or v2 header (read before TLS), bounded by `timeout`.',
    postern: '`multipath` is refused (`"multipath" parameter of "listen" is not supported yet`), as are `unix:` sockets and port ranges; an address without a port is an error. A host name is resolved as nginx resolves it (every address it has; `host not found in "NAME:PORT" of the "listen" directive` otherwise), by `-t`, a start and a reload, right after the file is read. A PROXY header may arrive in several TCP segments (nginx 1.22.1 closes such a connection); v2 headers may be up to 4,096 bytes (nginx 1.23.3+), a v1 line must end within 107 bytes.' },
  { name: 'protocol', contexts: ['server'], arity: 'take1', syntax: 'imap | pop3 | smtp | sieve', store: 'custom', apply: applyProtocol, merge: 'server', supported: true,
    defaultText: 'by port of the first matching `listen`', description: 'Protocol of the server; when unset at the time of a `listen`, ports 110/995 mean pop3, 143/993 imap, 25/465/587 smtp.', postern: '`sieve` (ManageSieve, RFC 5804) is a Postern extension, never chosen by port: write `protocol sieve;` (see docs/extensions.md).' },
  { name: 'server_name', contexts: MS, arity: 'take1', syntax: 'name', store: 'once', parse: text, merge: 'inherit', supported: true,
    defaultText: 'the machine\'s host name', description: 'Name used in the SMTP greeting and HELO/EHLO, and in APOP/CRAM-MD5 challenges.' },
  { name: 'timeout', contexts: MS, arity: 'take1', syntax: 'time', default: '60s', store: 'once', parse: time, merge: 'inherit', supported: true,
    description: 'Deadline from the greeting until the connection is handed to the backend (not reset by client activity).' },
  { name: 'max_errors', contexts: MS, arity: 'take1', syntax: 'number', default: '5', store: 'once', parse: number, merge: 'inherit', supported: true,
    description: 'Number of protocol errors after which the connection is closed.' },
  { name: 'error_log', contexts: ['main', 'mail', 'server'], arity: '1more', syntax: 'file [level]', store: 'custom', apply: applyErrorLog, merge: 'inherit', supported: true,
    defaultText: 'the mail block\'s, else the top-level `error_log`, else stderr (level notice)', description: 'Where and from which level to log: a file, `stderr` or `syslog:server=address[:port][,facility=..][,tag=..][,severity=..][,nohostname]`; levels debug ... emerg, default error. Several in one context each take the lines at or above their level; a server\'s sessions go to the server\'s logs. Lines as nginx writes them (`postern_log_format` for JSON).',
    postern: '`memory:` and `syslog:server=unix:...` are refused; relative paths are taken from the prefix (`-p`), else the main file\'s directory; without any `error_log` Postern writes to stderr from level notice (nginx: its compiled-in file, level error).' },
  { name: 'resolver', contexts: MS, arity: '1more', syntax: 'address ... [valid=time] [ipv4=on|off] [ipv6=on|off] | off', default: 'off',
    store: 'once', parse: parseResolver, merge: 'inherit', supported: true,
    description: 'DNS servers (port default 53) used to find the SMTP client\'s host name (PTR, then a forward lookup that must give the client address back) for `Client-Host` and XCLIENT `NAME=`.',
    postern: 'Addresses must be IP addresses (host names are refused); `status_zone=` is refused; answers are not cached, so `valid=` is accepted but has no effect; a PTR name with bytes outside `A-Z a-z 0-9 - .` gives `[TEMPUNAVAIL]`, as in nginx 1.29.7+ (CVE-2026-28753).' },
  { name: 'resolver_timeout', contexts: MS, arity: 'take1', syntax: 'time', default: '30s', store: 'once', parse: time, merge: 'inherit', supported: true,
    description: 'Timeout for each DNS lookup of the SMTP client\'s host name.' },

  // ---- ngx_mail_auth_http_module
  { name: 'auth_http', contexts: MS, arity: 'take1', syntax: 'URL', store: 'last', parse: authHttp, merge: 'inherit', supported: true,
    defaultText: '— (required)', description: 'The HTTP authentication service: `[http://]host[:port][/uri]` or `unix:/path[:/uri]`.',
    postern: 'Host names are checked for syntax, not resolved at load time; `https://` gets a clear error.' },
  { name: 'auth_http_header', contexts: MS, arity: 'take2', syntax: 'header value', store: 'append', parse: (ctx) => [[arg(ctx, 0), arg(ctx, 1)]], merge: 'replace', supported: true,
    description: 'Extra header sent with every auth request; repeatable.' },
  { name: 'auth_http_timeout', contexts: MS, arity: 'take1', syntax: 'time', default: '60s', store: 'once', parse: time, merge: 'inherit', supported: true,
    description: 'Timeout for connecting to and reading from the auth service.' },
  { name: 'auth_http_pass_client_cert', contexts: MS, arity: 'flag', syntax: 'on | off', default: 'off', store: 'once', parse: flag, merge: 'inherit', supported: true,
    description: 'Pass the client certificate (PEM, URL-encoded) to the auth service in `Auth-SSL-Cert`.' },

  // ---- ngx_mail_proxy_module
  { name: 'proxy', contexts: MS, arity: 'flag', syntax: 'on | off', default: 'off', store: 'once', parse: flag, merge: 'inherit', supported: true,
    description: 'Accepted for compatibility; has no effect (as in nginx).' },
  { name: 'proxy_buffer', contexts: MS, arity: 'take1', syntax: 'size', default: '4k', store: 'once', parse: size, merge: 'inherit', supported: true,
    description: 'Buffer for reading the backend during login and for backend-to-client relaying.' },
  { name: 'proxy_timeout', contexts: MS, arity: 'take1', syntax: 'time', default: '24h', store: 'once', parse: time, merge: 'inherit', supported: true,
    description: 'Idle timeout once the connection is relayed to the backend.' },
  { name: 'proxy_pass_error_message', contexts: MS, arity: 'flag', syntax: 'on | off', default: 'off', store: 'once', parse: flag, merge: 'inherit', supported: true,
    description: 'Pass the backend\'s error message to the client when the backend login fails.' },
  { name: 'xclient', contexts: MS, arity: 'flag', syntax: 'on | off', default: 'on', store: 'once', parse: flag, merge: 'inherit', supported: true,
    description: 'Send Postfix XCLIENT (client address, login, host name) to the SMTP backend.',
    postern: 'The LOGIN value is xtext-encoded, as in nginx 1.29.2+ (1.22 sent it raw, an injection hole).' },
  { name: 'proxy_smtp_auth', contexts: MS, arity: 'flag', syntax: 'on | off', default: 'off', store: 'once', parse: flag, merge: 'inherit', supported: true,
    description: 'Log in to the SMTP backend with AUTH PLAIN (the login and password the auth service approved); XCLIENT then carries no LOGIN.' },
  { name: 'proxy_protocol', contexts: MS, arity: 'take1', syntax: 'on | off | v2', default: 'off', store: 'once', parse: oneOf(['off', 'on', 'v2']), merge: 'inherit', supported: true,
    description: 'Send a PROXY protocol header to the backend before reading its greeting: `on` a v1 line, `v2` the binary form (with a CRC32C TLV). Source: the client (after `set_real_ip_from`); destination: the address and port the client connected to.',
    postern: '`v2` as in nginx 1.31.4 (1.22.1 knows only `on | off`); when the two addresses differ in family, the v1 line is `TCP6` with the IPv4 one mapped (nginx writes a mixed line).' },

  // ---- ngx_mail_ssl_module
  { name: 'ssl', contexts: MS, arity: 'flag', syntax: 'on | off', default: 'off', store: 'custom', parse: flag, apply: applySsl, merge: 'inherit', supported: true,
    description: 'Legacy: every `listen` of the server is implicit TLS. Prefer `listen ... ssl`.',
    postern: 'Accepted as in nginx 1.22 (removed in nginx 1.25.1), with a deprecation notice.' },
  { name: 'starttls', contexts: MS, arity: 'take1', syntax: 'on | off | only', default: 'off', store: 'custom', parse: oneOf(STARTTLS_MODES), apply: applyStarttls, merge: 'inherit', supported: true,
    description: 'Offer STARTTLS/STLS (`on`), or require TLS before any authentication (`only`).' },
  { name: 'ssl_certificate', contexts: MS, arity: 'take1', syntax: 'file', store: 'append', parse: (ctx) => [filePath(ctx)], merge: 'replace', supported: true,
    description: 'PEM certificate (chain); repeat for several key types.', postern: 'Files are read when the server starts (or by `postern -t`), not while parsing.' },
  { name: 'ssl_certificate_key', contexts: MS, arity: 'take1', syntax: 'file', store: 'append', parse: (ctx) => [filePath(ctx)], merge: 'replace', supported: true,
    description: 'PEM private key for the `ssl_certificate` in the same position.' },
  { name: 'ssl_protocols', contexts: MS, arity: '1more', syntax: '[SSLv2] [SSLv3] [TLSv1] [TLSv1.1] [TLSv1.2] [TLSv1.3]', default: 'TLSv1.2 TLSv1.3',
    store: 'bitmask', keywords: ['SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'], merge: 'inherit', supported: true,
    description: 'Enabled TLS versions.', postern: 'Default is today\'s nginx (`TLSv1.2 TLSv1.3`), not 1.22\'s `TLSv1 TLSv1.1 TLSv1.2`.' },
  { name: 'ssl_ciphers', contexts: MS, arity: 'take1', syntax: 'ciphers', default: 'HIGH:!aNULL:!MD5', store: 'once', parse: text, merge: 'inherit', supported: true,
    description: 'OpenSSL cipher list for TLS 1.2 and below.' },
  { name: 'ssl_prefer_server_ciphers', contexts: MS, arity: 'flag', syntax: 'on | off', default: 'off', store: 'once', parse: flag, merge: 'inherit', supported: true,
    description: 'Prefer the server\'s cipher order over the client\'s.' },
  { name: 'ssl_password_file', contexts: MS, arity: 'take1', syntax: 'file', store: 'once', parse: filePath, merge: 'inherit', supported: true,
    description: 'Passphrases for encrypted private keys, one per line, tried in turn until the key loads.',
    postern: 'The file is read when the server starts (and by `postern -t`), not while parsing; errors name the directive\'s line as nginx does.' },
  { name: 'ssl_dhparam', contexts: MS, arity: 'take1', syntax: 'file', defaultText: '— (no DHE)', store: 'once', parse: filePath, merge: 'inherit', supported: true,
    description: 'DH parameters (PEM `DH PARAMETERS`) for DHE ciphers.' },
  { name: 'ssl_ecdh_curve', contexts: MS, arity: 'take1', syntax: 'curve[:curve ...] | auto', default: 'auto', store: 'once', parse: text, merge: 'inherit', supported: true,
    description: 'Groups for ECDHE (and TLS 1.3 key exchange), most preferred first.' },
  { name: 'ssl_session_cache', contexts: MS, arity: 'take12', syntax: 'off | none | [builtin[:size]] [shared:name:size]', defaultText: '`ssl_session_cache none;`',
    store: 'custom', apply: applySessionCache, merge: 'inherit', supported: true,
    description: 'TLS session cache: `off` (clients are told sessions cannot be resumed), `none` (told they can, nothing is stored), `builtin[:sessions]` (per process, default 20480 sessions), `shared:name:size` (shared by every server naming it; at least 32k). `builtin` and `shared` combine.' },
  { name: 'ssl_session_timeout', contexts: MS, arity: 'take1', syntax: 'time', default: '5m', store: 'once', parse: seconds, merge: 'inherit', supported: true,
    description: 'Lifetime of TLS sessions (cache entries and tickets); whole seconds.' },
  { name: 'ssl_session_tickets', contexts: MS, arity: 'flag', syntax: 'on | off', default: 'on', store: 'once', parse: flag, merge: 'inherit', supported: true,
    description: 'Resume TLS sessions with tickets (RFC 5077).' },
  { name: 'ssl_session_ticket_key', contexts: MS, arity: 'take1', syntax: 'file', defaultText: '— (random keys)', store: 'append', parse: (ctx) => [filePath(ctx)], merge: 'replace', supported: true,
    description: 'Ticket key file of 48 or 80 random bytes; repeatable: the first key encrypts, every key decrypts.' },
  { name: 'ssl_verify_client', contexts: MS, arity: 'take1', syntax: 'on | off | optional | optional_no_ca', default: 'off', store: 'once', parse: oneOf(VERIFY_CLIENT), merge: 'inherit', supported: true,
    description: 'Ask for a client certificate: `on` requires a valid one, `optional` checks one if sent, `optional_no_ca` also accepts one that does not chain to the CAs. `on`/`optional` need `ssl_client_certificate`.',
    postern: 'The `ssl_client_certificate` CAs and the `ssl_trusted_certificate` CAs are both advertised to clients (Node.js sends every CA it verifies with); nginx advertises only the former.' },
  { name: 'ssl_verify_depth', contexts: MS, arity: 'take1', syntax: 'number', default: '1', store: 'once', parse: number, merge: 'inherit', supported: true,
    description: 'Longest client certificate chain accepted.' },
  { name: 'ssl_client_certificate', contexts: MS, arity: 'take1', syntax: 'file', store: 'once', parse: filePath, merge: 'inherit', supported: true,
    description: 'CA certificates (PEM) that verify client certificates; their names are sent to clients.' },
  { name: 'ssl_trusted_certificate', contexts: MS, arity: 'take1', syntax: 'file', store: 'once', parse: filePath, merge: 'inherit', supported: true,
    description: 'More CA certificates (PEM) that verify client certificates.' },
  { name: 'ssl_crl', contexts: MS, arity: 'take1', syntax: 'file', store: 'once', parse: filePath, merge: 'inherit', supported: true,
    description: 'Revoked certificates (PEM CRLs) checked for the whole client chain.' },
  { name: 'ssl_conf_command', contexts: MS, arity: 'take2', syntax: 'name value', store: 'append', parse: confCommand, merge: 'replace', supported: true,
    description: 'OpenSSL configuration command, applied after the other `ssl_*` directives; repeatable.',
    postern: 'Only commands with a Node.js equivalent: `Ciphersuites`, `CipherString`, `Curves`/`Groups`, `MinProtocol`/`MaxProtocol`, `SignatureAlgorithms`, `DHParameters`, `Certificate`/`PrivateKey` and `Options` with `ServerPreference`, `SessionTicket`, `PrioritizeChaCha`, `NoRenegotiation`, `AllowNoDHEKEX`, `-EncryptThenMac`, `-Compression` (and their negations where meaningful). Others are refused by `postern -t` and at start, naming the line.' },
  later('ssl_certificate_compression', 'flag', 'on | off', 'TLS 1.3 certificate compression (nginx 1.29.1).'),

  // ---- ngx_mail_pop3_module / imap / smtp
  { name: 'pop3_auth', contexts: MS, arity: '1more', syntax: 'method ...', default: 'plain', store: 'bitmask', keywords: ['plain', 'apop', 'cram-md5', 'external'],
    merge: 'inherit', supported: true, description: 'Advertised POP3 methods (`plain apop cram-md5 external`); USER/PASS, AUTH PLAIN and LOGIN are always accepted.' },
  { name: 'pop3_capabilities', contexts: MS, arity: '1more', syntax: 'extension ...', default: 'TOP USER UIDL', store: 'append', parse: words, merge: 'replace', supported: true,
    description: 'Extensions listed in the CAPA reply.' },
  { name: 'imap_auth', contexts: MS, arity: '1more', syntax: 'method ...', default: 'plain', store: 'bitmask', keywords: ['plain', 'login', 'cram-md5', 'external'],
    merge: 'inherit', supported: true, description: 'Advertised IMAP methods (`plain login cram-md5 external`); LOGIN and AUTHENTICATE PLAIN/LOGIN are always accepted.' },
  { name: 'imap_capabilities', contexts: MS, arity: '1more', syntax: 'extension ...', default: 'IMAP4 IMAP4rev1 UIDPLUS', store: 'append', parse: words, merge: 'replace', supported: true,
    description: 'Capabilities listed in the CAPABILITY reply.' },
  { name: 'imap_client_buffer', contexts: MS, arity: 'take1', syntax: 'size', default: '4k', store: 'once', parse: size, merge: 'inherit', supported: true,
    description: 'Largest IMAP command, literals included.' },
  { name: 'smtp_auth', contexts: MS, arity: '1more', syntax: 'method ...', default: 'plain login', store: 'bitmask', keywords: ['plain', 'login', 'cram-md5', 'external', 'none'],
    merge: 'inherit', supported: true, description: 'Advertised SMTP methods (`plain login cram-md5 external none`); `none` allows mail without authentication.' },
  { name: 'smtp_capabilities', contexts: MS, arity: '1more', syntax: 'extension ...', default: '', defaultText: '—', store: 'append', parse: words, merge: 'replace', supported: true,
    description: 'Extensions listed in the EHLO reply, one per argument (quote ones with spaces).' },
  { name: 'smtp_client_buffer', contexts: MS, arity: 'take1', syntax: 'size', default: '4k', store: 'once', parse: size, merge: 'inherit', supported: true,
    description: 'Largest SMTP command line.' },
  { name: 'smtp_greeting_delay', contexts: MS, arity: 'take1', syntax: 'time', default: '0', store: 'once', parse: time, merge: 'inherit', supported: true,
    description: 'Wait this long before the greeting; clients that talk first are rejected.' },

  // ---- Postern extensions (not nginx directives; see docs/extensions.md)
  { name: 'postern_journal', contexts: MS, arity: 'take1', syntax: 'directory | off', defaultText: '`postern_journal off;`', store: 'once', parse: journalDirectory,
    merge: 'inherit', supported: true,
    description: 'Postern extension: write one JSON-lines journal per connection (`DIRECTORY/<ISO-time>-<pid>-<counter>.jsonl`) for `postern replay`.',
    postern: 'A Postern extension, not an nginx directive: nginx refuses it (`unknown directive`). Secrets are redacted by type; the directory is created if missing. See docs/journal.md.' },
  { name: 'postern_log_format', contexts: ['main'], arity: 'take1', syntax: 'text | json', default: 'text', store: 'once', merge: 'main', supported: true,
    parse: (ctx) => (['text', 'json'].includes(ctx.args[0]!) ? ctx.args[0] : ctx.fail(`invalid value "${ctx.args[0]}" in "postern_log_format" directive, it must be "text" or "json"`)),
    description: 'Postern extension: how every `error_log` of the process writes: `text`, nginx\'s lines; `json`, pino JSON lines with the same facts as fields (`severity`, `connection`, `client`, `server`, `login`, `upstream`, `action`).',
    postern: 'A Postern extension, not an nginx directive: nginx refuses it (`unknown directive`). See docs/extensions.md.' },
  { name: 'postern_access_log', contexts: MS, arity: 'take12', syntax: 'path [text | json] | off', defaultText: '`postern_access_log off;`', store: 'once', parse: accessLogValue,
    merge: 'inherit', supported: true,
    description: 'Postern extension: one line per ended connection (time, connection number, client and listener address, protocol, TLS version, cipher and resumption, login, upstream, bytes each way, relayed bytes, duration, outcome), as `key=value` text or JSON.',
    postern: 'A Postern extension, not an nginx directive (nginx\'s mail module has no access log). Reopened with the error_log on USR1. See docs/operations.md.' },
  { name: 'postern_metrics_listen', contexts: ['main', 'mail'], arity: 'take1', syntax: 'address:port', defaultText: '— (no metrics endpoint)', store: 'once', parse: metricsAddress,
    merge: 'main', supported: true,
    description: 'Postern extension: serve `GET /metrics` (Prometheus text, summed over the worker processes) and `GET /healthz` (200 while the listeners accept) on this address.',
    postern: 'A Postern extension, not an nginx directive: nginx refuses it (`unknown directive`). See docs/operations.md.' },
  ...extensionDirectives,
  sniDirective,
  ...sieveDirectives,

  // ---- ngx_mail_realip_module
  realIpDirective,
];

export const directiveByName: ReadonlyMap<string, DirectiveSpec> = new Map(directives.map((d) => [d.name, d]));

/**
 * Top-level directives of a whole nginx.conf that are not about mail: skipped (blocks whole) with
 * one notice. `true` marks block directives.
 */
export const NON_MAIL_MAIN_DIRECTIVES: ReadonlyMap<string, boolean> = new Map([
  ...['http', 'stream', 'rtmp'].map((n) => [n, true] as const),
  ...[
    'load_module', 'worker_rlimit_core', 'env', 'daemon',
    'master_process', 'pcre_jit', 'thread_pool', 'lock_file', 'timer_resolution', 'working_directory', 'worker_priority',
    'worker_cpu_affinity', 'debug_points', 'ssl_engine',
    'ssl_object_cache_inheritable', 'google_perftools_profiles', 'quic_bpf', 'acme_issuer',
  ].map((n) => [n, false] as const),
]);

/** Directive names of other nginx modules: inside `mail` they are "not allowed here", not unknown. */
export const OTHER_NGINX_DIRECTIVES: ReadonlySet<string> = new Set([
  ...NON_MAIL_MAIN_DIRECTIVES.keys(),
  'location', 'upstream', 'root', 'alias', 'index', 'proxy_pass', 'return', 'rewrite', 'access_log', 'log_format',
  'sendfile', 'keepalive_timeout', 'types', 'default_type', 'add_header', 'allow', 'deny', 'limit_conn', 'limit_req',
  'client_max_body_size', 'gzip', 'ssl_stapling',
  'ssl_early_data', 'ssl_reject_handshake', 'http2', 'map', 'geo', 'if', 'set', 'try_files', 'fastcgi_pass',
]);

/** Runs `parse` against a default written as arguments; used by the merge step and the docs. */
export function defaultValue(spec: DirectiveSpec): unknown {
  if (spec.default === undefined) return undefined;
  const args = spec.default === '' ? [] : spec.default.split(' ');
  const where = { file: '<default>', line: 0 };
  const ctx: ApplyContext = {
    spec,
    args,
    where,
    level: newLevel('mail', where),
    state: { baseDir: '/', notices: [], warnings: [], listenKeys: new Set(), sharedZones: new Map(), mainErrorLogs: [] },
    fail: (reason) => {
      throw ConfigError.at(reason, where);
    },
    failDirective: (rv) => {
      throw ConfigError.at(`"${spec.name}" directive ${rv}`, where);
    },
    notice: () => undefined,
    warn: () => undefined,
  };
  if (spec.store === 'bitmask') return bitmaskValues(ctx);
  if (spec.store === 'append' && args.length === 0) return [];
  return spec.parse!(ctx);
}

/** Keywords of a bitmask directive occurrence, canonical spelling; repeated ones are noticed. */
export function bitmaskValues(ctx: ApplyContext, already: readonly string[] = []): string[] {
  const keywords = ctx.spec.keywords ?? [];
  const seen = new Set(already);
  for (const word of ctx.args) {
    const keyword = keywords.find((k) => k.toLowerCase() === word.toLowerCase());
    if (keyword === undefined) ctx.fail(`invalid value "${word}"`);
    if (seen.has(keyword!)) ctx.notice(`duplicate value "${word}"`);
    seen.add(keyword!);
  }
  return keywords.filter((k) => seen.has(k));
}

/** Applies one occurrence of a directive to its level according to its store mode. */
export function applyDirective(ctx: ApplyContext): void {
  const { spec, level } = ctx;
  const current = level.settings.get(spec.name);
  switch (spec.store) {
    case 'once':
      if (current) ctx.failDirective('is duplicate');
      level.settings.set(spec.name, { value: spec.parse!(ctx), where: ctx.where });
      return;
    case 'last':
      level.settings.set(spec.name, { value: spec.parse!(ctx), where: ctx.where });
      return;
    case 'append': {
      const items = spec.parse!(ctx) as unknown[];
      if (current) (current.value as unknown[]).push(...items);
      else level.settings.set(spec.name, { value: [...items], where: ctx.where });
      return;
    }
    case 'bitmask': {
      const values = bitmaskValues(ctx, (current?.value as string[] | undefined) ?? []);
      level.settings.set(spec.name, { value: values, where: current?.where ?? ctx.where });
      return;
    }
    case 'custom':
      spec.apply!(ctx);
      return;
    case 'none':
      return;
  }
}
