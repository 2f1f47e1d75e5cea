/**
 * `postern_proxy_forward on` (extension): tell the backend who the client is without the PROXY
 * protocol, as Dovecot's own proxy does (its login-proxy): IMAP `ID` with Dovecot's `x-*` keys
 * before LOGIN when the greeting advertises `ID`; POP3 `XCLIENT ADDR= PORT=` before USER when
 * `CAPA` lists `XCLIENT`. The backend honours them only from its trusted networks (Dovecot:
 * `login_trusted_networks`) and then logs and authenticates with the client's address.
 * Both are advisory: a backend that refuses them still gets the login.
 */
import type { Protocol } from '../config/types.js';
import type { LoginStep } from '../protocols/login-step.js';

export interface ClientAddressFacts {
  clientIp: string;
  clientPort: number;
  /** The address and port the client connected to. */
  localIp: string;
  localPort: number;
  /** Names this connection in both servers' logs (Dovecot's `session=<...>`). */
  sessionId: string;
}

/** The tag of the ID command; the LOGIN that follows keeps the client's tag, as nginx's does. */
const ID_TAG = 'P0';

const quoted = (value: string | number): string => `"${String(value).replace(/["\\]/g, '')}"`;

export function imapIdLine(facts: ClientAddressFacts): string {
  const pairs: Array<[string, string | number]> = [
    ['x-session-id', facts.sessionId],
    ['x-originating-ip', facts.clientIp],
    ['x-originating-port', facts.clientPort],
    ['x-connected-ip', facts.localIp],
    ['x-connected-port', facts.localPort],
  ];
  return `${ID_TAG} ID (${pairs.map(([key, value]) => `${quoted(key)} ${quoted(value)}`).join(' ')})\r\n`;
}

export function pop3XclientLine(facts: ClientAddressFacts): string {
  return `XCLIENT ADDR=${facts.clientIp} PORT=${facts.clientPort} SESSION=${facts.sessionId}\r\n`;
}

/** `[CAPABILITY ... ID ...]` in an IMAP greeting. */
export const greetingAdvertisesId = (greeting: string): boolean => /\[CAPABILITY [^\]]*\bID\b/i.test(greeting.split('\r\n')[0] ?? '');

/** `XCLIENT` as one of the lines of a POP3 CAPA reply. */
export const capaListsXclient = (reply: string): boolean =>
  reply.startsWith('+OK') && reply.split('\r\n').slice(1).some((line) => /^XCLIENT(\s|$)/i.test(line));

/** The login steps with the forwarding command inserted after the greeting (SMTP has XCLIENT already). */
export function forwardClientAddress(protocol: Protocol, steps: LoginStep[], facts: ClientAddressFacts): LoginStep[] {
  const [greeting, ...rest] = steps as [LoginStep, ...LoginStep[]];
  const login = greeting.send!;
  let advertised = false;
  switch (protocol) {
    case 'imap':
      return [
        {
          check: (reply) => {
            const verdict = greeting.check(reply);
            advertised = verdict === 'ok' && greetingAdvertisesId(reply);
            return verdict;
          },
          send: () => (advertised ? imapIdLine(facts) : login()),
        },
        // `* ID ...` then `P0 OK` (or NO/BAD: the login goes on regardless).
        { check: (reply) => (new RegExp(`(^|\\r\\n)${ID_TAG} `).test(reply) ? 'ok' : 'more'), send: login, skip: () => !advertised },
        ...rest,
      ];
    case 'pop3':
      return [
        { check: greeting.check, send: () => 'CAPA\r\n' },
        {
          check: (reply) => {
            // A backend without CAPA answers -ERR: nothing to forward then.
            if (reply.startsWith('-ERR')) return 'ok';
            if (!reply.startsWith('+OK')) return 'bad';
            if (!reply.endsWith('\r\n.\r\n')) return 'more';
            advertised = capaListsXclient(reply);
            return 'ok';
          },
          send: () => (advertised ? pop3XclientLine(facts) : login()),
        },
        { check: () => 'ok', send: login, skip: () => !advertised },
        ...rest,
      ];
    default:
      return steps;
  }
}
