import type { Level } from './levels.js';

/** nginx's NGX_MAX_ERROR_STR: a line is cut to this many bytes, its linefeed included. */
const MAX_LINE = 2048;

const pad = (n: number): string => (n < 10 ? `0${n}` : String(n));

let cachedSecond = -1;
let cachedTime = '';

/** nginx's ngx_cached_err_log_time: `YYYY/MM/DD HH:MM:SS` in local time, made once a second. */
export function errorLogTime(now = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second === cachedSecond) return cachedTime;
  const d = new Date(now);
  cachedSecond = second;
  cachedTime = `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return cachedTime;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** nginx's ngx_cached_syslog_time (RFC 3164): `Mmm dd HH:MM:SS`, the day padded with a space. */
export function syslogTime(now = Date.now()): string {
  const d = new Date(now);
  const day = d.getDate();
  return `${MONTHS[d.getMonth()]} ${day < 10 ? ` ${day}` : day} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/**
 * One error_log line as ngx_log_error_core writes it:
 * `YYYY/MM/DD HH:MM:SS [level] PID#TID: *N message` and a linefeed. On Linux nginx's TID is the
 * thread id, the pid for the only thread a worker has; Node's JavaScript runs on its main thread.
 */
export function errorLogLine(level: Level, connection: number | undefined, text: string, now?: number): string {
  const line = `${errorLogTime(now)} [${level}] ${process.pid}#${process.pid}: ${connection === undefined ? '' : `*${connection} `}${text}`;
  return `${line.length < MAX_LINE ? line : line.slice(0, MAX_LINE - 1)}\n`;
}
