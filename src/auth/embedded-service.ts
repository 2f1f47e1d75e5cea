import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DemoUser {
  user: string;
  password: string;
}

export interface Endpoint {
  host: string;
  port: number;
}

export interface EmbeddedAuthOptions {
  host: string;
  port: number;
  users: readonly DemoUser[];
  backend: Partial<Record<'pop3' | 'imap' | 'smtp', Endpoint>>;
}

export interface EmbeddedAuthService {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** nginx %XX-escapes Auth-User/Auth-Pass; undo it. */
const unescape = (value: string): string => value.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** Does this request prove knowledge of the user's password (plain, APOP or CRAM-MD5)? */
function passwordMatches(method: string, given: string, salt: string, password: string): boolean {
  switch (method) {
    case 'plain':
      return given === password;
    case 'apop':
      return given.toLowerCase() === createHash('md5').update(salt + password, 'latin1').digest('hex');
    case 'cram-md5':
      return given.toLowerCase() === createHmac('md5', Buffer.from(password, 'latin1')).update(salt, 'latin1').digest('hex');
    default:
      return false;
  }
}

/**
 * The auth_http service of the embedded default: a fixed table of demo users, each routed to the
 * demo mailbox of its protocol. APOP and CRAM-MD5 are checked here and answered with the clear
 * password in `Auth-Pass`, as the auth_http protocol requires. Not for production use.
 */
export function startEmbeddedAuthService(options: EmbeddedAuthOptions): Promise<EmbeddedAuthService> {
  const server = http.createServer((request, response) => {
    const header = (name: string) => String(request.headers[name] ?? '');
    const method = header('auth-method');
    const user = unescape(header('auth-user'));
    const given = unescape(header('auth-pass'));
    const protocol = header('auth-protocol') as 'pop3' | 'imap' | 'smtp';
    const account = options.users.find((u) => u.user === user);
    const backend = options.backend[protocol];
    const accepted = account !== undefined && backend !== undefined && passwordMatches(method, given, header('auth-salt'), account.password);
    const headers: Record<string, string> = accepted
      ? { 'Auth-Status': 'OK', 'Auth-Server': backend.host, 'Auth-Port': String(backend.port), 'Auth-Pass': account.password }
      : { 'Auth-Status': 'Invalid login or password', 'Auth-Wait': '3' };
    response.writeHead(200, headers);
    response.end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://${options.host}:${port}/auth`,
        port,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}
