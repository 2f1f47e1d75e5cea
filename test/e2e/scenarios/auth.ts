/**
 * Users of the e2e scenarios and the auth_http policy shared by nginx's and Postern's
 * auth servers. Special login names make the auth server misbehave, so that scenarios stay
 * plain data and can run against both proxies at the same time.
 */
import { defaultAuthHandler, type AuthHandler, type AuthResponse, type Backends } from '../harness/index.js';
import { unescapeAuthValue } from '../harness/index.js';

/** Real Dovecot accounts. `bob`'s password has a quote, a backslash and a space. */
export const USERS = [
  { user: 'alice', password: 'secret' },
  { user: 'bob', password: 'a"b\\c d' },
  { user: 'test@example.com', password: 'pa ss%word' },
];

export const USER_TABLE: Record<string, string> = Object.fromEntries(USERS.map((u) => [u.user, u.password]));

/**
 * Login names with a scripted auth answer:
 * - `err500`: `HTTP/1.0 500` with an HTML body and no Auth-* header → internal error
 * - `garbage`: bytes that are no HTTP at all → invalid header → internal error
 * - `badheader`: `X_Bad` header (underscore) → invalid header → internal error
 * - `drop`: the auth server closes without answering → internal error
 * - `hang`: no answer (auth_http_timeout 1s) → internal error
 * - `nowait`: failure without Auth-Wait → NO / -ERR and close
 * - `noserver`: `Auth-Status: OK` without server/port → internal error
 * - `deadbackend`: OK pointing at a port where nothing listens → internal error
 * - `alias`: status line `HTTP/1.0 500 Oops` (ignored by nginx), OK with `Auth-User: alice`
 *   and `Auth-Pass: secret`: logs into Dovecot as alice
 * - `waitonce`: first `Auth-Status: WAIT` + `Auth-Wait: 1`, then like `alias` (per auth server)
 * - `emptystatus`: `Auth-Status:` with an empty value (a failure with empty text, then close)
 * - `badwait`: failure with a non-numeric `Auth-Wait` (ignored → close)
 * - `hostname`: `Auth-Server: localhost` (not an IP literal) → internal error
 * - `badport`: `Auth-Port: 70000` → internal error
 * - `huge`: a response head larger than 1024 bytes → internal error
 * - `nostatusline`: headers without an HTTP status line, LF line ends, like `alias`
 * - `lowercase`: `auth-status: ok` (names are case-insensitive, values are not: a failure "ok")
 * - `spaces`: `Auth-Status:    Bad  thing   ` + `Auth-Wait: 1` (value trimmed, inner spaces kept)
 */
export function scenarioAuthHandler(opts: { backends: Backends; deadPort: number }): AuthHandler {
  const fallback = defaultAuthHandler({ users: USER_TABLE, backends: opts.backends, host: '127.0.0.1' });
  const seen = new Map<string, number>();
  return (req): AuthResponse | Promise<AuthResponse> => {
    const user = unescapeAuthValue(req.headers['auth-user'] ?? '');
    const proto = (req.headers['auth-protocol'] ?? 'imap') as keyof Backends;
    const backend = String(opts.backends[proto] ?? 1);
    const asAlice = { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': backend, 'Auth-User': 'alice', 'Auth-Pass': 'secret' };
    const n = (seen.get(user) ?? 0) + 1;
    seen.set(user, n);
    switch (user) {
      case 'waitonce':
        return n % 2 === 1 ? { headers: { 'Auth-Status': 'WAIT', 'Auth-Wait': '1' } } : { headers: asAlice };
      case 'emptystatus':
        return { raw: 'HTTP/1.0 200 OK\r\nAuth-Status:\r\n\r\n' };
      case 'badwait':
        return { headers: { 'Auth-Status': 'Go away', 'Auth-Wait': 'soon' } };
      case 'hostname':
        return { headers: { 'Auth-Status': 'OK', 'Auth-Server': 'localhost', 'Auth-Port': backend } };
      case 'badport':
        return { headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': '70000' } };
      case 'huge':
        return { headers: { 'X-Padding': 'p'.repeat(1100), ...asAlice } };
      case 'lowercase':
        return { raw: 'HTTP/1.0 200 OK\r\nauth-status: ok\r\n\r\n' };
      case 'spaces':
        return { raw: 'HTTP/1.0 200 OK\r\nAuth-Status:    Bad  thing   \r\nAUTH-WAIT: 1\r\n\r\n' };
      case 'nostatusline':
        return { raw: Object.entries(asAlice).map(([k, v]) => `${k}: ${v}\n`).join('') + '\n' };
      case 'err500':
        return { raw: 'HTTP/1.0 500 Internal Server Error\r\nContent-Type: text/html\r\n\r\n<html><body>garbage</body></html>\r\n' };
      case 'garbage':
        return { raw: '\x01\x02garbage\xff\xfe\r\n\r\n' };
      case 'badheader':
        return { headers: { 'Auth-Status': 'OK', X_Bad: '1', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(opts.backends[proto] ?? 1) } };
      case 'drop':
        return { drop: true };
      case 'hang':
        return { hang: true };
      case 'nowait':
        return { headers: { 'Auth-Status': 'Invalid login or password' } };
      case 'noserver':
        return { headers: { 'Auth-Status': 'OK' } };
      case 'deadbackend':
        return { headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(opts.deadPort) } };
      case 'alias':
        return {
          status: 'HTTP/1.0 500 Oops',
          headers: {
            'Auth-Status': 'OK',
            'Auth-Server': '127.0.0.1',
            'Auth-Port': String(opts.backends[proto] ?? 1),
            'Auth-User': 'alice',
            'Auth-Pass': 'secret',
          },
        };
      default:
        return fallback(req);
    }
  };
}
