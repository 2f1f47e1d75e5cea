/**
 * ManageSieve (`protocol sieve;`, a Postern extension; RFC 5804) end to end: Python's sievelib
 * (Debian python3-sievelib) and a scripted client talk to Postern, which asks the auth service
 * (`Auth-Protocol: sieve`) and logs in to a real Dovecot ManageSieve (Pigeonhole,
 * dovecot-managesieved); scripts uploaded and activated through Postern must land in the user's
 * Dovecot sieve directory, and listings through Postern must equal listings from Dovecot directly.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import {
  connect,
  freePorts,
  generateCert,
  python,
  removeDir,
  requireBinaries,
  startAuthServer,
  startDovecot,
  type AuthServer,
  type CertFiles,
  type DovecotHandle,
  type LineClient,
} from './harness/index.js';
import { USER_TABLE, USERS } from './scenarios/auth.js';

requireBinaries(['dovecot', 'python3', 'openssl']);
// sievelib is a Debian package of the system python3 (.ci/run installs python3-sievelib).
if (!existsSync('/usr/lib/python3/dist-packages/sievelib/managesieve.py')) {
  throw new Error('missing python3-sievelib: run `bash .ci/run` or `apt-get install -y python3-sievelib`');
}

/**
 * One sievelib session: connect (plain, STARTTLS, or implicit TLS by wrapping the socket sievelib
 * opens), authenticate, then upload `name` with `body`, activate it and list the scripts.
 * Prints JSON: {connected, errmsg, active, scripts, implementation}.
 */
const SIEVELIB = String.raw`
import json, socket, ssl, sys
from sievelib.managesieve import Client
host, port, user, password, mode, mech, name, body = sys.argv[1:9]
if mode == 'implicit':
    plain_connect = socket.create_connection
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    socket.create_connection = lambda address, *a, **k: context.wrap_socket(plain_connect(address, *a, **k), server_hostname=address[0])
client = Client(host, int(port))
out = {'connected': bool(client.connect(user, password, starttls=(mode == 'starttls'), authmech=mech))}
out['errmsg'] = (client.errmsg or b'').decode('utf-8', 'replace') if hasattr(client, 'errmsg') and client.errmsg is not None else ''
if out['connected']:
    out['put'] = client.putscript(name, body)
    out['activated'] = client.setactive(name)
    active, scripts = client.listscripts()
    out['active'] = active
    out['scripts'] = sorted(scripts + ([active] if active else []))
    client.logout()
print(json.dumps(out))
`;

interface SievelibResult {
  connected: boolean;
  errmsg: string;
  put?: boolean;
  activated?: boolean;
  active?: string | null;
  scripts?: string[];
}

async function sievelib(port: number, user: string, password: string, mode: 'plain' | 'starttls' | 'implicit', mech: 'PLAIN' | 'LOGIN', name: string, body: string): Promise<SievelibResult> {
  const result = await python(SIEVELIB, ['127.0.0.1', String(port), user, password, mode, mech, name, body], { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`sievelib failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as SievelibResult;
}

const SCRIPT = 'require "fileinto";\r\nif header :contains "subject" "[list]" { fileinto "Lists"; }\r\n';
const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');
/** Reads one ManageSieve response: data lines up to the OK, NO or BYE line. */
const response = (client: LineClient, timeoutMs?: number) => client.readUntil(/^(OK|NO|BYE)\b[^\n]*\n/m, timeoutMs);

interface Ports {
  starttlsOn: number;
  implicit: number;
  starttlsOnly: number;
  backendStarttls: number;
  maxErrors3: number;
}

describe('ManageSieve through Postern to Dovecot', () => {
  let cert: CertFiles | undefined;
  let dc: DovecotHandle | undefined;
  let auth: AuthServer | undefined;
  let proxy: RunningProxy | undefined;
  let p: Ports;

  beforeAll(async () => {
    dc = await startDovecot({ users: USERS, ssl: true, managesieve: true, messages: [] });
    auth = await startAuthServer({ users: USER_TABLE, backends: { sieve: dc.sievePort! } });
    cert = await generateCert();
    const [starttlsOn, implicit, starttlsOnly, backendStarttls, maxErrors3] = (await freePorts(5)) as [number, number, number, number, number];
    p = { starttlsOn, implicit, starttlsOnly, backendStarttls, maxErrors3 };
    const block = `mail {
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    auth_http ${auth.url}/auth;
    postern_sieve_auth plain login;
    server { listen 127.0.0.1:${starttlsOn}; protocol sieve; starttls on; }
    server { listen 127.0.0.1:${implicit} ssl; protocol sieve; }
    server { listen 127.0.0.1:${starttlsOnly}; protocol sieve; starttls only; }
    server { listen 127.0.0.1:${backendStarttls}; protocol sieve; postern_proxy_ssl starttls; }
    server { listen 127.0.0.1:${maxErrors3}; protocol sieve; max_errors 3; }
}
`;
    proxy = await startProxy(parseConfigText(block, 'sieve.conf'), { logger: silentLogger() });
  }, 60_000);

  afterAll(async () => {
    const results = await Promise.allSettled([proxy?.close(), auth?.close(), dc?.close()]);
    if (cert) await removeDir(cert.dir);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  const scriptFile = (user: string, name: string) => path.join(dc!.mailDir(user), 'sieve', `${name}.sieve`);

  it('sievelib: AUTHENTICATE PLAIN, PUTSCRIPT, SETACTIVE, LISTSCRIPTS shows it active, LOGOUT; the script is in Dovecot', async () => {
    const through = await sievelib(p.starttlsOn, 'alice', 'secret', 'plain', 'PLAIN', 'postern1', SCRIPT);
    expect(through).toEqual({ connected: true, errmsg: '', put: true, activated: true, active: 'postern1', scripts: ['postern1'] });
    expect(readFileSync(scriptFile('alice', 'postern1'), 'latin1')).toBe(SCRIPT);
    const request = auth!.requests.at(-1)!;
    expect(request.headers['auth-protocol']).toBe('sieve');
    expect(request.headers['auth-method']).toBe('plain');
    expect(request.headers['auth-user']).toBe('alice');
    // The same client straight at Dovecot sees the same scripts and the same active one.
    const direct = await sievelib(dc!.sievePort!, 'alice', 'secret', 'plain', 'PLAIN', 'postern1', SCRIPT);
    expect(direct).toEqual(through);
  });

  it('sievelib: AUTHENTICATE LOGIN (both SASL lines pipelined) for a password with a quote, a backslash and a space', async () => {
    const bob = USERS.find((u) => u.user === 'bob')!;
    const result = await sievelib(p.starttlsOn, bob.user, bob.password, 'plain', 'LOGIN', 'bobs', 'keep;\r\n');
    expect(result).toMatchObject({ connected: true, put: true, activated: true, active: 'bobs' });
    expect(readFileSync(scriptFile('bob', 'bobs'), 'latin1')).toBe('keep;\r\n');
  });

  it('sievelib with STARTTLS (it waits for the capabilities the server says again after the handshake), as straight to Dovecot', async () => {
    const bob = USERS.find((u) => u.user === 'bob')!;
    const through = await sievelib(p.starttlsOn, bob.user, bob.password, 'starttls', 'PLAIN', 'upgraded', 'keep;\r\n');
    expect(through).toMatchObject({ connected: true, put: true, activated: true, active: 'upgraded' });
    expect(auth!.requests.at(-1)!.headers['auth-ssl']).toBe('on');
    const direct = await sievelib(dc!.sievePort!, bob.user, bob.password, 'starttls', 'PLAIN', 'upgraded', 'keep;\r\n');
    expect(direct).toEqual(through);
  });

  it('sievelib over an implicit-TLS listen', async () => {
    const result = await sievelib(p.implicit, 'test@example.com', 'pa ss%word', 'implicit', 'PLAIN', 'tls1', 'discard;\r\n');
    expect(result).toMatchObject({ connected: true, put: true, activated: true, active: 'tls1', scripts: ['tls1'] });
    expect(readFileSync(scriptFile('test@example.com', 'tls1'), 'latin1')).toBe('discard;\r\n');
  });

  it('sievelib: a wrong password gets the auth service\'s text as NO, as Dovecot answers NO', async () => {
    const through = await sievelib(p.starttlsOn, 'alice', 'wrong', 'plain', 'PLAIN', 'x', 'keep;');
    expect(through).toEqual({ connected: false, errmsg: 'Invalid login or password' });
    const direct = await sievelib(dc!.sievePort!, 'alice', 'wrong', 'plain', 'PLAIN', 'x', 'keep;');
    expect(direct).toEqual({ connected: false, errmsg: 'Authentication failed.' });
  });

  it('scripted client: the greeting, STARTTLS, CAPABILITY over TLS, AUTHENTICATE with a literal, then the backend\'s own replies', async () => {
    const client = await connect(p.starttlsOn);
    try {
      const greeting = await response(client);
      expect(greeting).toBe(
        '"IMPLEMENTATION" "Postern"\r\n' +
          '"SIEVE" "fileinto reject envelope encoded-character vacation subaddress comparator-i;ascii-numeric relational regex imap4flags copy include variables body enotify environment mailbox date index ihave duplicate mime foreverypart extracttext"\r\n' +
          '"NOTIFY" "mailto"\r\n"SASL" "PLAIN LOGIN"\r\n"STARTTLS"\r\n"VERSION" "1.0"\r\nOK "ManageSieve ready."\r\n',
      );
      await client.sendLine('NOOP "t1"');
      expect(await response(client)).toBe('OK (TAG "t1") "Done"\r\n');
      await client.sendLine('STARTTLS');
      expect(await response(client)).toBe('OK "Begin TLS negotiation now."\r\n');
      await client.startTls({ rejectUnauthorized: false });
      // RFC 5804 §2.2: the capabilities again, unasked, as Dovecot says them after its handshake.
      const unasked = await response(client);
      expect(unasked).toContain('"SASL" "PLAIN LOGIN"\r\n"VERSION" "1.0"\r\nOK "TLS negotiation successful."\r\n');
      expect(unasked).not.toContain('STARTTLS');
      await client.sendLine('CAPABILITY');
      const capabilities = await response(client);
      expect(capabilities).toContain('"SASL" "PLAIN LOGIN"\r\n"VERSION" "1.0"\r\nOK "Capability completed."\r\n');
      expect(capabilities).not.toContain('STARTTLS');
      const initial = b64('\0alice\0secret');
      await client.sendLine(`AUTHENTICATE "PLAIN" {${initial.length}+}\r\n${initial}`);
      // Dovecot's own reply to the proxied AUTHENTICATE is what the client sees first.
      expect(await response(client)).toBe('OK "Logged in."\r\n');
      await client.sendLine('LISTSCRIPTS');
      expect(await response(client)).toBe('"postern1" ACTIVE\r\nOK "Listscripts completed."\r\n');
      await client.sendLine('CAPABILITY');
      expect(await response(client)).toMatch(/^"IMPLEMENTATION" "Dovecot \(Debian\) Pigeonhole"\r\n/);
      await client.sendLine('LOGOUT');
      expect(await response(client)).toBe('OK "Logout completed."\r\n');
      await client.expectClosed();
    } finally {
      client.close();
    }
  });

  it('starttls only: no SASL mechanism and no AUTHENTICATE before TLS; sievelib finds no mechanism', async () => {
    const client = await connect(p.starttlsOnly);
    try {
      const greeting = await response(client);
      expect(greeting).toContain('"SASL" ""\r\n"STARTTLS"\r\n"VERSION" "1.0"\r\nOK "ManageSieve ready."\r\n');
      const before = auth!.requests.length;
      await client.sendLine(`AUTHENTICATE "PLAIN" "${b64('\0alice\0secret')}"`);
      expect(await response(client)).toBe('NO (ENCRYPT-NEEDED) "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."\r\n');
      expect(auth!.requests.length).toBe(before);
      await client.sendLine('STARTTLS');
      expect(await response(client)).toBe('OK "Begin TLS negotiation now."\r\n');
      await client.startTls({ rejectUnauthorized: false });
      expect(await response(client)).toContain('"SASL" "PLAIN LOGIN"\r\n"VERSION" "1.0"\r\nOK "TLS negotiation successful."\r\n');
      await client.sendLine('CAPABILITY');
      expect(await response(client)).toContain('"SASL" "PLAIN LOGIN"\r\n');
      await client.sendLine(`AUTHENTICATE "PLAIN" "${b64('\0alice\0secret')}"`);
      expect(await response(client)).toBe('OK "Logged in."\r\n');
    } finally {
      client.close();
    }
    const result = await sievelib(p.starttlsOnly, 'alice', 'secret', 'plain', 'PLAIN', 'x', 'keep;');
    expect(result).toEqual({ connected: false, errmsg: 'No suitable mechanism found' });
  });

  it('postern_proxy_ssl starttls: Postern upgrades to TLS at Dovecot before AUTHENTICATE (Dovecot logs a TLS login)', async () => {
    const result = await sievelib(p.backendStarttls, 'alice', 'secret', 'plain', 'PLAIN', 'postern2', 'keep;\r\n');
    expect(result).toMatchObject({ connected: true, put: true, activated: true, active: 'postern2' });
    const logins = (await dc!.log()).split('\n').filter((l) => l.includes('managesieve-login: ') && l.includes('Login: user=<alice>'));
    expect(logins.some((l) => /, TLS[,:]/.test(l)), logins.join('\n')).toBe(true);
  });

  /** What `port` says, after its greeting, to `lines` sent at once, up to its close. */
  const closingWords = async (port: number, lines: string[]): Promise<string> => {
    const client = await connect(port);
    try {
      await response(client);
      await client.send(lines.map((line) => `${line}\r\n`).join(''));
      return await client.expectClosed();
    } finally {
      client.close();
    }
  };

  it('a command longer than the buffer: BYE, then the close (RFC 5804 §1.3), as Dovecot says it', async () => {
    const tooLong = [`NOOP "${'a'.repeat(20_000)}"`];
    const direct = await closingWords(dc!.sievePort!, tooLong);
    expect(direct).toBe('BYE "Input buffer full, aborting"\r\n');
    expect(await closingWords(p.starttlsOn, tooLong)).toBe(direct);
    // A literal that cannot fit is refused as soon as its header is read.
    expect(await closingWords(p.starttlsOn, ['NOOP {100000+}'])).toBe(direct);
  });

  /**
   * Dovecot 2.3 closes without a word on a SASL response too long for it (it collects the line
   * apart from its command buffer); Postern says the BYE it says for a too-long command (RFC 5804
   * §1.3: a server closing the connection says BYE first), never the invalid-command NO.
   */
  it('a SASL continuation line longer than the buffer: BYE, then the close (Dovecot closes silently)', async () => {
    const tooLong = ['AUTHENTICATE "PLAIN"', `"${'a'.repeat(20_000)}"`];
    expect(await closingWords(dc!.sievePort!, tooLong)).toBe('""\r\n');
    expect(await closingWords(p.starttlsOn, tooLong)).toBe('""\r\nBYE "Input buffer full, aborting"\r\n');
  });

  it('max_errors: the invalid command that reaches it gets BYE instead of NO, as Dovecot (3 invalid commands) answers', async () => {
    const invalid = ['FOO', 'FOO', 'FOO', 'FOO'];
    const direct = await closingWords(dc!.sievePort!, invalid);
    expect(direct).toBe(`${'NO "Error in MANAGESIEVE command received by server."\r\n'.repeat(2)}BYE "Too many invalid MANAGESIEVE commands."\r\n`);
    expect(await closingWords(p.maxErrors3, invalid)).toBe(direct);
  });
});
