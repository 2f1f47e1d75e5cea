/**
 * Logging in to a ManageSieve backend on the client's behalf (RFC 5804 §2.1, §2.2):
 *
 *   backend:  capability lines ... OK "..."          (the greeting)
 *   proxy:    AUTHENTICATE "PLAIN" "<base64 NUL user NUL password>"
 *   backend:  OK "..."                               (relayed: the client's first bytes)
 *
 * With `postern_proxy_ssl starttls`, STARTTLS first; once TLS is up the backend says its
 * capabilities again (§2.2), and AUTHENTICATE follows their OK.
 */

/** What a backend reply means to the login: go on, wait for more lines, or stop. */
export type Verdict = 'ok' | 'more' | 'bad';

/** The lines of a reply buffer that are complete (each without its CRLF). */
function completeLines(reply: string): string[] {
  return reply.split('\r\n').slice(0, -1);
}

/**
 * A ManageSieve response: any number of data lines (capabilities), then one line starting
 * with `OK`, `NO` or `BYE` (RFC 5804 §4, response-*). Only `OK` lets the login go on.
 */
export function sieveResponse(reply: string): Verdict {
  for (const line of completeLines(reply)) {
    const word = /^(OK|NO|BYE)(?=[ (]|$)/i.exec(line)?.[1]?.toUpperCase();
    if (word === 'OK') return 'ok';
    if (word !== undefined) return 'bad';
  }
  return 'more';
}

/** The SASL PLAIN initial response with an empty authorization identity, as a quoted string. */
export function authenticatePlainLine(user: string, password: string): string {
  return `AUTHENTICATE "PLAIN" "${Buffer.from(`\0${user}\0${password}`, 'latin1').toString('base64')}"\r\n`;
}

/** Bytes of a STARTTLS reply proper (its one line); what follows it is dropped before the handshake. */
export function starttlsReplyLength(reply: string): number {
  const end = reply.indexOf('\r\n');
  return end < 0 ? reply.length : end + 2;
}

/**
 * What the backend login could not write unchanged, for the log line (never the value), or
 * null. The PLAIN message separates user and password with NUL: a user holding NUL would move
 * the boundary at the backend. The password may hold any byte (it is the rest of the message)
 * and base64 carries CR and LF safely.
 */
export const unsafeSieveCredentials = (user: string): string | null => (user.includes('\0') ? 'login with NUL' : null);
