/**
 * `postern_proxy_forward on` (extension): tell the backend who the client is without the PROXY
 * protocol, as Dovecot's own proxy does: IMAP `ID` with Dovecot's `x-*` keys before LOGIN when
 * the greeting advertises `ID`; POP3 `XCLIENT ADDR= PORT= SESSION=` before USER when the
 * greeting advertises `[XCLIENT]` (Dovecot does so only to clients from its trusted networks).
 * The backend honours them only from its trusted networks (Dovecot: `login_trusted_networks`)
 * and then logs and authenticates with the client's address. Both are advisory: a backend that
 * refuses them still gets the login.
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

/** `+OK [XCLIENT] ...`: Dovecot's POP3 greeting to a client from its trusted networks. */
export const greetingAdvertisesXclient = (greeting: string): boolean => /^\+OK \[XCLIENT\]/i.test(greeting);

/** How one protocol forwards the client's address: when the greeting offers it, which line, when its reply is complete. */
interface ForwardCommand {
  offered(greeting: string): boolean;
  line(facts: ClientAddressFacts): string;
  /** The reply, whatever it says (the command is advisory), is complete. */
  complete(reply: string): boolean;
}

/** SMTP has none of its own: nginx's `xclient on` already tells the backend. */
const FORWARD: Partial<Record<Protocol, ForwardCommand>> = {
  // `* ID ...` then `P0 OK` (or NO/BAD).
  imap: { offered: greetingAdvertisesId, line: imapIdLine, complete: (reply) => new RegExp(`(^|\\r\\n)${ID_TAG} `).test(reply) },
  // `+OK` (or `-ERR`): one line.
  pop3: { offered: greetingAdvertisesXclient, line: pop3XclientLine, complete: () => true },
};

/** The login steps with the forwarding command between the greeting and the login, when the greeting offers it. */
export function forwardClientAddress(protocol: Protocol, steps: LoginStep[], facts: ClientAddressFacts): LoginStep[] {
  const command = FORWARD[protocol];
  if (command === undefined) return steps;
  const [greeting, ...rest] = steps as [LoginStep, ...LoginStep[]];
  const login = greeting.send!;
  let offered = false;
  return [
    {
      check: (reply) => {
        const verdict = greeting.check(reply);
        offered = verdict === 'ok' && command.offered(reply);
        return verdict;
      },
      send: () => (offered ? command.line(facts) : login()),
    },
    { check: (reply) => (command.complete(reply) ? 'ok' : 'more'), send: login, skip: () => !offered },
    ...rest,
  ];
}
