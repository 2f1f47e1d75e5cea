import { isIPv4 } from 'node:net';
import { canonicalIPv6, isIPv6Address } from './addresses.js';
import type { SyslogTarget } from './types.js';
import { parseNumber } from './values.js';

/** RFC 3164 facilities in number order, as nginx names them (src/core/ngx_syslog.c). */
const FACILITIES = ['kern', 'user', 'mail', 'daemon', 'auth', 'intern', 'lpr', 'news', 'uucp', 'clock', 'authpriv', 'ftp', 'ntp', 'audit', 'alert', 'cron',
  'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'];
const SEVERITIES = ['emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug'];

/**
 * The parameters after `syslog:`, checked as ngx_syslog_parse_args checks them (same messages).
 * `severity=` is accepted and, as in nginx's error_log, has no effect: a line's own level is its
 * severity.
 */
export function parseSyslogTarget(text: string, fail: (message: string) => never): SyslogTarget {
  let server: { host: string; port: number } | undefined;
  let facility: number | undefined;
  let severity = false;
  let tag: string | undefined;
  let nohostname = false;
  for (const part of text.split(',')) {
    if (part.startsWith('server=')) {
      if (server !== undefined) fail('duplicate syslog "server"');
      server = syslogServer(part.slice(7), fail);
    } else if (part.startsWith('facility=')) {
      if (facility !== undefined) fail('duplicate syslog "facility"');
      const index = FACILITIES.indexOf(part.slice(9));
      facility = index >= 0 ? index : fail(`unknown syslog facility "${part.slice(9)}"`);
    } else if (part.startsWith('severity=')) {
      if (severity) fail('duplicate syslog "severity"');
      if (!SEVERITIES.includes(part.slice(9))) fail(`unknown syslog severity "${part.slice(9)}"`);
      severity = true;
    } else if (part.startsWith('tag=')) {
      if (tag !== undefined) fail('duplicate syslog "tag"');
      const value = part.slice(4);
      if (value.length > 32) fail('syslog tag length exceeds 32');
      if (!/^[0-9A-Za-z_]*$/.test(value)) fail('syslog "tag" only allows alphanumeric characters and underscore');
      tag = value;
    } else if (part === 'nohostname') {
      nohostname = true;
    } else {
      fail(`unknown syslog parameter "${part}"`);
    }
  }
  if (server === undefined) return fail('no syslog server specified');
  return { ...server, facility: facility ?? 23, tag: tag ?? 'nginx', nohostname };
}

/** `ADDR[:PORT]` (port 514 by default); an IPv6 address in brackets. Host names are refused. */
function syslogServer(text: string, fail: (message: string) => never): { host: string; port: number } {
  const bad = (err: string): never => fail(`${err} in syslog server "${text}"`);
  const port = (p: string | undefined): number => {
    if (p === undefined) return 514;
    const n = parseNumber(p);
    return n === null || n < 1 || n > 65535 ? bad('invalid port') : n;
  };
  if (text.startsWith('unix:')) return fail('"unix:" syslog servers are not supported yet');
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    const rest = text.slice(close + 1);
    if (close < 0 || (rest !== '' && !rest.startsWith(':'))) return bad('invalid host');
    const inner = text.slice(1, close);
    if (!isIPv6Address(inner)) return bad('invalid IPv6 address');
    return { host: canonicalIPv6(inner), port: port(rest === '' ? undefined : rest.slice(1)) };
  }
  const colon = text.indexOf(':');
  const host = colon < 0 ? text : text.slice(0, colon);
  if (host === '') return bad('no host');
  if (!isIPv4(host)) return fail(`host names in syslog servers are not supported yet, use IP addresses`);
  return { host, port: port(colon < 0 ? undefined : text.slice(colon + 1)) };
}
