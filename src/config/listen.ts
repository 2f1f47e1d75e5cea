/**
 * The `listen` directive of the mail module: address, parameters, protocol auto-detection by
 * port, and the mail-wide duplicate check. Error texts follow nginx's ngx_mail_core_listen.
 */
import { isIP } from 'node:net';
import { AddressError, parseListenAddress } from './addresses.js';
import type { ApplyContext } from './directive-spec.js';
import { ConfigError } from './errors.js';
import type { ListenConfig, MailConfig, Protocol } from './types.js';
import { parseNumber, parseSize, parseTime } from './values.js';

/**
 * Ports that select a protocol when `protocol` was not set before the `listen`. ManageSieve (a
 * Postern extension) is never chosen by port: nginx would refuse such a server.
 */
export const PROTOCOL_PORTS: Partial<Record<Protocol, readonly number[]>> = {
  pop3: [110, 995],
  imap: [143, 993],
  smtp: [25, 465, 587],
};

/** Parameters nginx knows that Postern refuses for now (rather than silently ignoring). */
const NOT_YET = new Set(['multipath']);

function parseKeepalive(text: string): ListenConfig['soKeepalive'] | null {
  if (text === 'on') return { enabled: true };
  if (text === 'off') return { enabled: false };
  const parts = text.split(':');
  if (parts.length > 3) {
    // nginx reads the count from everything after the second colon, which then is no number
    return null;
  }
  const [idle, interval, count] = parts;
  const result: NonNullable<ListenConfig['soKeepalive']> = { enabled: true };
  if (idle) {
    const v = parseTime(idle, 's');
    if (v === null) return null;
    result.idle = v;
  }
  if (interval) {
    const v = parseTime(interval, 's');
    if (v === null) return null;
    result.interval = v;
  }
  if (count) {
    const v = parseNumber(count);
    if (v === null) return null;
    result.count = v;
  }
  if (!result.idle && !result.interval && !result.count) return null;
  return result;
}

export function applyListen(ctx: ApplyContext): void {
  const [address, ...params] = ctx.args as [string, ...string[]];
  const { level, state } = ctx;

  if (address.length >= 5 && address.slice(0, 5).toLowerCase() === 'unix:') {
    ctx.fail(`unix domain sockets in "${address}" of the "listen" directive are not supported yet`);
  }
  let parsed;
  try {
    parsed = parseListenAddress(address);
  } catch (error) {
    if (error instanceof AddressError) ctx.fail(`${error.message} in "${address}" of the "listen" directive`);
    throw error;
  }

  if (level.protocol === undefined) {
    for (const [protocol, ports] of Object.entries(PROTOCOL_PORTS) as Array<[Protocol, readonly number[]]>) {
      if (ports.includes(parsed.port)) level.protocol = protocol;
    }
  }

  const listen: ListenConfig = { host: parsed.host, port: parsed.port, text: address, ssl: false, bind: false, where: ctx.where };

  for (const param of params) {
    if (param === 'bind') {
      listen.bind = true;
    } else if (param.startsWith('backlog=')) {
      const n = parseNumber(param.slice(8));
      if (n === null || n === 0) ctx.fail(`invalid backlog "${param}"`);
      listen.backlog = n!;
      listen.bind = true;
    } else if (param.startsWith('rcvbuf=') || param.startsWith('sndbuf=')) {
      const name = param.slice(0, 6) as 'rcvbuf' | 'sndbuf';
      const size = parseSize(param.slice(7));
      if (size === null) ctx.fail(`invalid ${name} "${param}"`);
      listen[name] = size!;
      listen.bind = true;
    } else if (param.startsWith('ipv6only=o')) {
      const rest = param.slice(10);
      if (rest === 'n') listen.ipv6only = true;
      else if (rest === 'ff') listen.ipv6only = false;
      else ctx.fail(`invalid ipv6only flags "${param.slice(9)}"`);
      listen.bind = true;
    } else if (param === 'ssl') {
      listen.ssl = true;
      level.hasListenSsl = true;
      level.sslWhere = ctx.where;
    } else if (param.startsWith('so_keepalive=')) {
      const value = param.slice(13);
      const keepalive = parseKeepalive(value);
      if (keepalive === null || keepalive === undefined) ctx.fail(`invalid so_keepalive value: "${value}"`);
      listen.soKeepalive = keepalive!;
      listen.bind = true;
    } else if (param === 'proxy_protocol') {
      listen.proxyProtocol = true;
    } else if (NOT_YET.has(param)) {
      ctx.fail(`"${param}" parameter of "listen" is not supported yet`);
    } else {
      ctx.fail(`invalid parameter "${param}"`);
    }
  }

  // A host name is checked once resolved, by its addresses (listen-hosts.ts), as nginx checks it.
  if (isIP(parsed.host) !== 0) {
    if (state.listenKeys.has(parsed.key)) ctx.fail(`duplicate "${parsed.key}" address and port pair`);
    state.listenKeys.add(parsed.key);
  }
  level.listens.push(listen);
}

const isWildcard = (listen: ListenConfig): boolean => listen.host === '0.0.0.0' || listen.host === '::';

/**
 * How many listening sockets nginx opens for these servers (ngx_mail_optimize_servers): one per
 * address, except that on a port (and address family) with a wildcard address, the addresses
 * without `bind` are served by the wildcard's socket.
 */
export function listeningSockets(servers: ReadonlyArray<{ listens: readonly ListenConfig[] }>): number {
  const byPort = new Map<string, ListenConfig[]>();
  for (const listen of servers.flatMap((server) => server.listens)) {
    const key = `${listen.host.includes(':') ? 6 : 4}:${listen.port}`;
    byPort.set(key, [...(byPort.get(key) ?? []), listen]);
  }
  let sockets = 0;
  for (const listens of byPort.values()) {
    sockets += listens.some(isWildcard) ? listens.filter((l) => l.bind || isWildcard(l)).length : listens.length;
  }
  return sockets;
}

/** ngx_event_init_conf: one connection for each listening socket, plus one (nginx's channel to the master). */
export function checkWorkerConnections(config: Pick<MailConfig, 'servers' | 'workerConnections' | 'file'>): void {
  const sockets = listeningSockets(config.servers);
  if (config.workerConnections < sockets + 1) {
    throw new ConfigError(`${config.workerConnections} worker_connections are not enough for ${sockets} listening sockets`, config.file, 0);
  }
}
