/**
 * One nginx.conf for nginx 1.22.1 and for Postern (a real process, the CLI from source): the
 * same `mail { }` block, `error_log FILE info;` at the top, each side with its own prefix, auth
 * server and Dovecot. Lines are compared after `normalizeErrorLog`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  freePorts,
  generateCert,
  makeTempDir,
  nginxConf,
  removeDir,
  startAuthServer,
  startDovecot,
  startNginx,
  unescapeAuthValue,
  waitForListen,
  defaultAuthHandler,
  type AuthServer,
  type CertFiles,
  type DovecotHandle,
} from '../harness/index.js';
import { startPostern } from '../../process/helpers.js';
import type { ServerKey } from './sessions.js';

export const SERVER_KEYS: ServerKey[] = ['imap', 'imapStarttlsOnly', 'imaps', 'pop3Starttls', 'smtp', 'imapShortTimeout', 'imapWildcard'];

/** The servers of the eight sessions; a test may bring its own (`servers`). */
export const defaultServers = (ports: Record<ServerKey, number>): string => `
    server { listen 127.0.0.1:${ports.imap}; protocol imap; }
    server { listen 127.0.0.1:${ports.imapStarttlsOnly}; protocol imap; starttls only; }
    server { listen 127.0.0.1:${ports.imaps} ssl; protocol imap; }
    server { listen 127.0.0.1:${ports.pop3Starttls}; protocol pop3; starttls on; }
    server { listen 127.0.0.1:${ports.smtp}; protocol smtp; }
    server { listen 127.0.0.1:${ports.imapShortTimeout}; protocol imap; timeout 1s; starttls on; }
    server { listen ${ports.imapWildcard}; protocol imap; }`;

export const mailBlock = (auth: string, cert: CertFiles, servers: string): string => `mail {
    server_name mx.test;
    auth_http ${auth}/auth;
    auth_http_timeout 2s;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    ssl_protocols TLSv1.2;
    smtp_auth login plain;
${servers}
}`;

export interface LogSide {
  name: 'nginx' | 'postern';
  /** The directory holding nginx.conf and the logs. */
  prefix: string;
  ports: Record<ServerKey, number>;
  /** Every port of this side worth a name in normalised lines (listeners, backends, the refused one). */
  portNames: Map<number, string>;
  /** The top-level error_log every side has (`PREFIX/error.log`). */
  errorLog(): string;
  /** What the process wrote to stdout and stderr. */
  output(): string;
  close(): Promise<void>;
}

export interface SideOptions {
  /** The `server { }` blocks (default: those of the eight sessions). */
  servers?: (ports: Record<ServerKey, number>, prefix: string) => string;
  /** More top-level directives. */
  main?: (prefix: string) => string;
}

export const USERS = [{ user: 'alice', password: 'secret' }];

/** The auth policy of both sides: Dovecot's users, and `nobackend` sent to a port nothing listens on. */
async function authFor(dc: DovecotHandle, deadPort: number): Promise<AuthServer> {
  const users = Object.fromEntries(USERS.map((u) => [u.user, u.password]));
  const fallback = defaultAuthHandler({ users, backends: { imap: dc.imapPort, pop3: dc.pop3Port }, host: '127.0.0.1' });
  return startAuthServer({
    handler: (req) =>
      unescapeAuthValue(req.headers['auth-user'] ?? '') === 'nobackend'
        ? { headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(deadPort) } }
        : fallback(req),
  });
}

async function sidePorts(): Promise<Record<ServerKey, number>> {
  const list = await freePorts(SERVER_KEYS.length);
  return Object.fromEntries(SERVER_KEYS.map((key, i) => [key, list[i]!])) as Record<ServerKey, number>;
}

function namesOf(ports: Record<ServerKey, number>, dc: DovecotHandle, auth: AuthServer, deadPort: number): Map<number, string> {
  const names = new Map<number, string>(Object.entries(ports).map(([key, port]) => [port, `<${key}>`]));
  names.set(dc.imapPort, '<dovecot-imap>');
  names.set(dc.pop3Port, '<dovecot-pop3>');
  names.set(auth.port, '<auth>');
  names.set(deadPort, '<refused>');
  return names;
}

/** nginx 1.22.1 or Postern (a real process) with one nginx.conf, its own Dovecot and auth server. */
export async function startSide(name: LogSide['name'], cert: CertFiles, deadPort: number, options: SideOptions = {}): Promise<LogSide> {
  const dc = await startDovecot({ users: USERS });
  const auth = await authFor(dc, deadPort);
  const ports = await sidePorts();
  const servers = options.servers ?? defaultServers;
  if (name === 'nginx') {
    // startNginx makes the prefix: the servers and main directives name it through a placeholder.
    const ng = await startNginx({
      mailBlock: mailBlock(auth.url, cert, servers(ports, '{{prefix}}')),
      extraMain: options.main?.('{{prefix}}') ?? '',
      waitPorts: Object.values(ports),
      prefixPlaceholder: '{{prefix}}',
    });
    return {
      name,
      prefix: ng.prefix,
      ports,
      portNames: namesOf(ports, dc, auth, deadPort),
      errorLog: () => ng.errorLog(),
      output: () => ng.output(),
      close: async () => {
        await ng.close();
        await auth.close();
        await dc.close();
      },
    };
  }
  const prefix = await makeTempDir('pe');
  const configPath = path.join(prefix, 'nginx.conf');
  writeFileSync(configPath, nginxConf(prefix, { mailBlock: mailBlock(auth.url, cert, servers(ports, prefix)), extraMain: options.main?.(prefix) ?? '' }));
  const process = await startPostern(configPath, path.join(prefix, 'nginx.pid'));
  for (const port of Object.values(ports)) await waitForListen(port, 15_000, process.daemon.alive);
  return {
    name,
    prefix,
    ports,
    portNames: namesOf(ports, dc, auth, deadPort),
    errorLog: () => readLog(path.join(prefix, 'error.log')),
    output: () => process.output(),
    close: async () => {
      await process.daemon.stop(5000);
      await auth.close();
      await dc.close();
      await removeDir(prefix);
    },
  };
}

export function readLog(file: string): string {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return '';
  }
}

export { generateCert };

/**
 * The lines of the sessions, normalised: time, pid#tid, connection numbers (as offsets from
 * `base`, so that the numbers an auth request or an upstream connection takes show), named
 * ports, other ports (the client's ephemeral port). Lines without a connection number (the
 * process's own) are left out.
 */
export function normalizeErrorLog(text: string, portNames: Map<number, string>, base: number): string[] {
  return text
    .split('\n')
    .filter((line) => / \*\d+ /.test(line))
    .map((line) =>
      line
        .replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /, 'TIME ')
        .replace(/\] \d+#\d+: /, '] PID#TID: ')
        .replace(/\*(\d+)/g, (_m, n: string) => `*C+${Number(n) - base}`)
        .replace(/(\d+\.\d+\.\d+\.\d+):(\d+)/g, (_m, host: string, port: string) => `${host}:${portNames.get(Number(port)) ?? '<ephemeral>'}`),
    );
}

/** The first connection number in `text`. */
export function firstConnectionNumber(text: string): number | undefined {
  const match = / \*(\d+) /.exec(text);
  return match === null ? undefined : Number(match[1]);
}

/** nginx's line shape: every line of an error_log, the process's own included. */
export const ERROR_LOG_LINE = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(emerg|alert|crit|error|warn|notice|info|debug)\] \d+#\d+: (\*\d+ )?\S/;
