import type { AccessLogConfig } from '../config/types.js';
import { fileDestination } from './destinations.js';
import type { SessionEnd, SessionEvents } from './session-events.js';

const orDash = (value: string | undefined): string => (value === undefined || value === '' ? '-' : value);

/** A login as a quoted string: the characters that would break the line escaped as in JSON. */
const quoted = (value: string | undefined): string => (value === undefined ? '-' : JSON.stringify(value));

/**
 * `postern_access_log` text line: ISO time, `*N`, then `key=value` pairs (logfmt), `-` for
 * what the session never had.
 */
export function accessLine(end: SessionEnd): string {
  const tls = end.tls;
  return (
    `${new Date(end.startedAt + end.durationMs).toISOString()} *${end.number} client=${end.client} server=${end.server} protocol=${end.protocol}` +
    ` tls=${orDash(tls?.version)} cipher=${orDash(tls?.cipher)} resumed=${tls === undefined ? '-' : tls.resumed ? 'yes' : 'no'}` +
    ` login=${quoted(end.login)} upstream=${orDash(end.upstream)}` +
    ` bytes_in=${end.bytesFromClient} bytes_out=${end.bytesToClient} relayed_up=${end.relayedToUpstream} relayed_down=${end.relayedToClient}` +
    ` duration=${(end.durationMs / 1000).toFixed(3)} outcome=${end.outcome}\n`
  );
}

/** The same facts as one JSON object per line. */
export function accessJson(end: SessionEnd): string {
  const { startedAt, durationMs, ...rest } = end;
  return `${JSON.stringify({ time: new Date(startedAt + durationMs).toISOString(), ...rest, duration: durationMs / 1000 })}\n`;
}

/** One line per ended connection into the configured file (shared with other servers naming it). */
export function accessLog(config: AccessLogConfig): SessionEvents {
  const destination = fileDestination(config.path);
  const format = config.format === 'json' ? accessJson : accessLine;
  const nothing = () => undefined;
  return {
    opened: nothing,
    tlsEstablished: nothing,
    tlsFailed: nothing,
    authAnswered: nothing,
    backendLoggedIn: nothing,
    ended: (end) => destination.write(format(end), 'info'),
  };
}
