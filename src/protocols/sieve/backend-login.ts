import { lengthThroughLine, resumeAfterUpgrade, upgradeAfterGreeting, type BackendLoginScript, type LoginStep } from '../login-step.js';

/**
 * A ManageSieve response: any number of data lines (capabilities), then one line starting with
 * `OK`, `NO` or `BYE` (RFC 5804 §4). Only `OK` lets the login go on.
 */
export function sieveResponse(reply: string): 'ok' | 'more' | 'bad' {
  for (const line of reply.split('\r\n').slice(0, -1)) {
    const word = /^(OK|NO|BYE)(?=[ (]|$)/i.exec(line)?.[1]?.toUpperCase();
    if (word === 'OK') return 'ok';
    if (word !== undefined) return 'bad';
  }
  return 'more';
}

/** SASL PLAIN with an empty authorization identity, as the initial response (a quoted base64 string). */
export function authenticatePlainLine(user: string, password: string): string {
  return `AUTHENTICATE "PLAIN" "${Buffer.from(`\0${user}\0${password}`, 'latin1').toString('base64')}"\r\n`;
}

/**
 * ManageSieve (RFC 5804 §2.1): the greeting (capability lines up to their `OK`), then
 * `AUTHENTICATE "PLAIN"` with the initial response; the backend's `OK` is what the client sees
 * first. With `postern_proxy_ssl starttls`: STARTTLS after the greeting; once TLS is up the
 * backend says its capabilities again (§2.2) and AUTHENTICATE follows their `OK`.
 */
export const sieveBackendLogin: BackendLoginScript = {
  steps: (target) => [
    { check: sieveResponse, send: () => authenticatePlainLine(target.user, target.password.reveal()) },
    { check: sieveResponse },
  ],
  starttls: (_target, steps) =>
    upgradeAfterGreeting(steps, (greeting): LoginStep[] => [
      { check: greeting.check, send: () => 'STARTTLS\r\n' },
      // Nothing to send over TLS before the backend's capabilities arrive.
      resumeAfterUpgrade({ check: greeting.check, send: () => '' }, sieveResponse),
      greeting,
    ]),
  // A one-line reply.
  replyLength: (reply) => lengthThroughLine(reply, () => true),
};
