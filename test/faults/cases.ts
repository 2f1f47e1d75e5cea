/**
 * The fault matrix of the auth service and the backends: what misbehaves, what the client
 * receives, and the log lines, nginx 1.22.1's beside Postern's.
 *
 * nginx's replies and lines were observed by running these very cases against the real nginx
 * 1.22.1 (Debian 12, `/usr/sbin/nginx` with ngx_mail_module, `error_log ... info`), with the
 * same fake auth service, fake backends and clients: `npx tsx test/faults/record-nginx.ts`
 * runs them again and fails on any difference from what is written here. nginx's lines are
 * kept as its level and its text up to the `, client: ...` context. Postern's error_log lines
 * (issue 14) are the same, except where a case says otherwise in `postern` and why in `note`.
 */
import {
  beforeLogin,
  Conversation,
  INTERNAL_ERROR,
  LOGGED_IN,
  loginLine,
  RELAYED,
  type AuthAnswer,
  type BackendBehaviour,
  type Protocol,
  type Transport,
} from './harness.js';

/** Where the log lines point: the auth service and the victim's backend, `127.0.0.1:PORT`. */
export interface Peers {
  auth: string;
  upstream: string;
}

export type NginxLevel = 'error' | 'info';

export interface FaultCase {
  id: string;
  title: string;
  /** What the auth service does with the victim's request; default: OK, to `backend`. `down`: nothing listens. */
  auth?: AuthAnswer | 'down';
  /** The victim's backend (default `good`). */
  backend?: BackendBehaviour | 'refused';
  /** Mail-level directives for this case (the timeouts it waits for). */
  extra?: string;
  /** The fault is in the relay: the client logs in, then sends one command. */
  relay?: boolean;
  /** nginx's lines for the session, as observed. */
  nginx: (protocol: Protocol, peers: Peers) => Array<[NginxLevel, string]>;
  /** Postern's lines where they are not nginx's (absent: nginx's), at info and above. */
  postern?: (protocol: Protocol, peers: Peers) => Array<[NginxLevel, string]>;
  /** Why Postern's lines are not nginx's. */
  note?: string;
}

/** nginx's `log->action` when it times out waiting for the backend's reply to its first command. */
const NGINX_SENDING: Record<Protocol, string> = {
  pop3: 'sending user name to upstream',
  imap: 'sending LOGIN command to upstream',
  smtp: 'sending HELO/EHLO to upstream',
};

export const FAULTS: FaultCase[] = [
  {
    id: 'auth-down',
    title: 'auth_http down (connection refused)',
    auth: 'down',
    nginx: () => [['error', 'recv() failed (111: Connection refused) while in http auth state']],
  },
  {
    id: 'auth-slow',
    title: 'auth_http slow (answers after auth_http_timeout)',
    extra: 'auth_http_timeout 300ms;',
    auth: { afterMs: 900, then: { ok: 1 } },
    nginx: (_, { auth }) => [['error', `auth http server ${auth} timed out (110: Connection timed out) while in http auth state`]],
  },
  {
    id: 'auth-hang',
    title: 'auth_http never answering',
    extra: 'auth_http_timeout 300ms;',
    auth: { hang: true },
    nginx: (_, { auth }) => [['error', `auth http server ${auth} timed out (110: Connection timed out) while in http auth state`]],
  },
  {
    id: 'auth-garbage',
    title: 'auth_http garbage (bytes that are no HTTP)',
    auth: { raw: '\x00\xff\x01garbage \xfe\r\n\r\n' },
    nginx: (_, { auth }) => [['error', `auth http server ${auth} sent invalid header in response while in http auth state`]],
  },
  {
    id: 'auth-garbage-header',
    title: 'auth_http garbage (a header line without a colon)',
    auth: { raw: 'HTTP/1.0 200 OK\r\nAuth-Status OK\r\n\r\n' },
    nginx: (_, { auth }) => [['error', `auth http server ${auth} sent invalid header in response while in http auth state`]],
  },
  {
    id: 'auth-huge',
    title: 'auth_http huge (a 64 KB header)',
    auth: { raw: `HTTP/1.0 200 OK\r\nX-Huge: ${'x'.repeat(65_536)}\r\nAuth-Status: OK\r\n\r\n` },
    nginx: () => [],
    postern: (_, { auth }) => [['error', `auth http server ${auth} sent too big response while in http auth state`]],
    note: 'nginx 1.22.1 logs nothing: its full 1024-byte buffer reads as a closed connection; Postern says why the session failed',
  },
  {
    id: 'auth-drop',
    title: 'auth_http closes without answering',
    auth: { drop: true },
    nginx: () => [],
    postern: (_, { auth }) => [['error', `auth http server ${auth} prematurely closed connection while in http auth state`]],
    note: 'nginx 1.22.1 logs nothing for an auth service that closes; Postern says why the session failed',
  },
  {
    id: 'backend-refused',
    title: 'backend refusing the connection',
    backend: 'refused',
    nginx: () => [['error', 'recv() failed (111: Connection refused) while reading response from upstream']],
  },
  {
    id: 'backend-reset-at-accept',
    title: 'backend resetting as it accepts',
    backend: 'resetAtAccept',
    nginx: () => [['error', 'recv() failed (104: Connection reset by peer) while reading response from upstream']],
  },
  {
    id: 'backend-garbage-greeting',
    title: 'backend sending a garbage greeting (an HTTP server)',
    backend: 'garbageGreeting',
    nginx: () => [['error', 'upstream sent invalid response: "HTTP/1.1 400 Bad Request" while reading response from upstream']],
  },
  {
    id: 'backend-stall-mid-login',
    title: 'backend stalling mid-login (no reply to the first command)',
    backend: 'stallMidLogin',
    extra: 'timeout 1s;',
    nginx: (protocol) => [['info', `upstream timed out (110: Connection timed out) while ${NGINX_SENDING[protocol]}`]],
  },
  {
    id: 'backend-reset-mid-login',
    title: 'backend resetting mid-login (after the first command)',
    backend: 'resetMidLogin',
    nginx: () => [['error', 'recv() failed (104: Connection reset by peer) while reading response from upstream']],
  },
  {
    id: 'backend-close-mid-login',
    title: 'backend closing mid-login (after the first command)',
    backend: 'closeMidLogin',
    nginx: () => [],
    postern: () => [['error', 'upstream prematurely closed connection while reading response from upstream']],
    note: 'nginx 1.22.1 logs nothing for a backend that closes during the login; Postern says why the session failed',
  },
  {
    id: 'backend-close-mid-relay',
    title: 'backend closing mid-relay',
    backend: 'closeMidRelay',
    relay: true,
    nginx: () => [
      ['info', 'client logged in'],
      ['info', 'proxied session done'],
    ],
  },
  {
    id: 'backend-reset-mid-relay',
    title: 'backend resetting mid-relay',
    backend: 'resetMidRelay',
    relay: true,
    nginx: () => [
      ['info', 'client logged in'],
      ['error', 'recv() failed (104: Connection reset by peer) while proxying and reading from upstream'],
      ['info', 'proxied session done'],
    ],
  },
];

/** The victim's login name, and the one of the client served after it. */
export const VICTIM = 'victim';
export const NEXT = 'next';

/**
 * The victim's session: everything up to its credentials, then the credentials (and for a relay
 * fault, the command after a successful login). Returns what arrived after the last thing it
 * sent, up to the close, and whether the login itself got through (relay faults).
 */
export async function victimSession(port: number, protocol: Protocol, transport: Transport, kase: FaultCase, timeoutMs = 10_000): Promise<{ reply: string; login?: string }> {
  const c = await Conversation.open(port, transport);
  try {
    await beforeLogin(c, protocol, transport, VICTIM);
    await c.send(loginLine(protocol, VICTIM), 'login');
    if (!kase.relay) return { reply: await c.untilClosed(timeoutMs) };
    const login = await c.read(/\r\n/, timeoutMs);
    await c.send(RELAYED[protocol].command, 'relay');
    return { login, reply: await c.untilClosed(timeoutMs) };
  } finally {
    c.destroy();
  }
}

/** What the victim receives: nginx's internal-error reply, or after a relay fault nothing more. */
export function expectedVictim(protocol: Protocol, kase: FaultCase): { reply: string; login?: string } {
  return kase.relay ? { login: LOGGED_IN[protocol], reply: '' } : { reply: INTERNAL_ERROR[protocol] };
}
