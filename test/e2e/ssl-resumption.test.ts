/**
 * TLS session resumption, nginx 1.22.1 and Postern side by side with the same mail block:
 * every `ssl_session_cache` form × `ssl_session_tickets on|off` × TLS 1.2 / 1.3 × a client that
 * takes tickets or not (`-no_ticket`). `openssl s_client -sess_out` saves the first session,
 * a second `s_client -sess_in` says `Reused` or `New`.
 *
 * Measured on nginx 1.22.1 (the EXPECTED table below); Postern answers the same in every cell.
 * One documented difference (docs/nginx-migration.md, "TLS session resumption"): with
 * `ssl_session_cache off` nginx tells TLS 1.2 clients that sessions may not be reused (an empty
 * session id, so s_client saves no session at all), Postern cannot (Node offers no way to turn
 * the server session cache mode off) and sends a session id that never resumes. Both end in a
 * full handshake; the test checks that exact difference.
 *
 * Then ticket key rotation with nginx's key files, on both: a ticket made under key A resumes
 * where the keys are B then A (and comes back renewed under B), not where only B is left.
 */
import { createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { sessionFields } from '../../src/net/session-der.js';
import { parseNginxTicketKey } from '../../src/net/ticket-keys.js';
import { freePort, freePorts, generateCert, makeTempDir, python, removeDir, requireBinaries, run, startNginx, type CertFiles, type NginxHandle } from './harness/index.js';

requireBinaries(['nginx', 'openssl']);

type Version = 'tls1_2' | 'tls1_3';
type Outcome = 'reused' | 'new' | 'no session';

interface Mode {
  label: string;
  /** The directive, or '' for nginx's default (`none`). */
  directive: string;
}

const MODES: Mode[] = [
  { label: 'default', directive: '' },
  { label: 'none', directive: 'ssl_session_cache none;' },
  { label: 'off', directive: 'ssl_session_cache off;' },
  { label: 'builtin', directive: 'ssl_session_cache builtin;' },
  { label: 'builtin:1000', directive: 'ssl_session_cache builtin:1000;' },
  { label: 'shared', directive: 'ssl_session_cache shared:RESUME:1m;' },
  { label: 'builtin+shared', directive: 'ssl_session_cache builtin:1000 shared:RESUME:1m;' },
];

/** nginx 1.22.1, measured: [tls1_2 client takes tickets, tls1_2 -no_ticket, tls1_3, tls1_3 -no_ticket]. */
const EXPECTED: Record<string, { on: Outcome[]; off: Outcome[] }> = {
  default: { on: ['reused', 'new', 'reused', 'reused'], off: ['new', 'new', 'new', 'new'] },
  none: { on: ['reused', 'new', 'reused', 'reused'], off: ['new', 'new', 'new', 'new'] },
  off: { on: ['reused', 'no session', 'reused', 'reused'], off: ['no session', 'no session', 'new', 'new'] },
  builtin: { on: ['reused', 'reused', 'reused', 'reused'], off: ['reused', 'reused', 'reused', 'reused'] },
  'builtin:1000': { on: ['reused', 'reused', 'reused', 'reused'], off: ['reused', 'reused', 'reused', 'reused'] },
  shared: { on: ['reused', 'reused', 'reused', 'reused'], off: ['reused', 'reused', 'reused', 'reused'] },
  'builtin+shared': { on: ['reused', 'reused', 'reused', 'reused'], off: ['reused', 'reused', 'reused', 'reused'] },
};

const CLIENTS: Array<{ version: Version; tickets: boolean }> = [
  { version: 'tls1_2', tickets: true },
  { version: 'tls1_2', tickets: false },
  { version: 'tls1_3', tickets: true },
  { version: 'tls1_3', tickets: false },
];

/** What Postern answers where nginx says "no session": the documented `off` difference. */
const postern = (outcome: Outcome): Outcome => (outcome === 'no session' ? 'new' : outcome);

interface Connection {
  /** `Reused`/`New` as s_client prints it after the handshake. */
  reused: boolean;
  /** The session id s_client shows (hex), '' when the server sent none. */
  sessionId: string;
  /** The ticket of the session s_client printed last (hex), '' without one. */
  ticket: string;
  /** Whether a session file was written (s_client writes none for a session that cannot resume). */
  saved: boolean;
}

let dir = '';

/**
 * One s_client connection: LOGOUT before login, so neither side needs the auth service. The
 * LOGOUT waits a little: nginx 1.22 sometimes leaves a command that arrives with the client's
 * TLS 1.3 Finished unread until its timeout (s_client then hangs, and is stopped: its summary
 * and session file are written by then anyway).
 */
async function connect(
  port: number,
  version: Version,
  options: { tickets?: boolean; sessOut?: string; sessIn?: string; starttls?: boolean },
): Promise<Connection> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, `-${version}`, '-ign_eof', '-crlf'];
  if (options.starttls) args.push('-starttls', 'imap');
  if (options.tickets === false) args.push('-no_ticket');
  if (options.sessOut) args.push('-sess_out', options.sessOut);
  if (options.sessIn) args.push('-sess_in', options.sessIn);
  const result = await run('/usr/bin/openssl', args, { inputLines: ['', 'a LOGOUT\n'], lineDelayMs: 300, timeoutMs: 4000 });
  const summary = /^(Reused|New), /m.exec(result.stdout);
  if (summary === null) throw new Error(`s_client to ${port} printed no session summary:\n${result.stdout}\n${result.stderr}`);
  let saved = false;
  if (options.sessOut) {
    const check = await run('/usr/bin/openssl', ['sess_id', '-in', options.sessOut, '-noout'], { timeoutMs: 5000 });
    saved = check.code === 0;
  }
  const tickets = [...result.stdout.matchAll(/TLS session ticket:\n((?:    [0-9a-f]{4} - .*\n)+)/g)].map((m) =>
    m[1]!.split('\n').map((line) => line.slice(11, 58).replace(/[^0-9a-f]/g, '')).join(''),
  );
  return {
    reused: summary[1] === 'Reused',
    sessionId: /^\s*Session-ID: ?([0-9A-F]*)$/m.exec(result.stdout)?.[1] ?? '',
    ticket: tickets.at(-1) ?? '',
    saved,
  };
}

let fileSeq = 0;
/** First connection saves the session, the second offers it. */
async function resumption(port: number, version: Version, tickets: boolean, starttls = false): Promise<{ outcome: Outcome; first: Connection }> {
  const file = path.join(dir, `s${++fileSeq}.pem`);
  const first = await connect(port, version, { tickets, sessOut: file, starttls });
  if (!first.saved) return { outcome: 'no session', first };
  const second = await connect(port, version, { tickets, sessIn: file, starttls });
  return { outcome: second.reused ? 'reused' : 'new', first };
}

const server = (port: number, directives: string): string =>
  directives.startsWith('starttls')
    ? `  server { listen 127.0.0.1:${port}; protocol imap; ${directives} }`
    : `  server { listen 127.0.0.1:${port} ssl; protocol imap; ${directives} }`;

describe('TLS session resumption: nginx 1.22.1 and Postern with the same mail block', () => {
  let cert: CertFiles;
  let ng: NginxHandle | undefined;
  let proxy: RunningProxy | undefined;
  const ports: Record<'nginx' | 'postern', Map<string, number>> = { nginx: new Map(), postern: new Map() };
  const keyFiles: Record<'A' | 'B', string> = { A: '', B: '' };
  const ROTATION: Record<string, string> = { A: 'A', BA: 'B A', B: 'B' };

  beforeAll(async () => {
    dir = await makeTempDir('resume');
    cert = await generateCert({ dir });
    for (const name of ['A', 'B'] as const) {
      keyFiles[name] = path.join(dir, `ticket-${name}.key`);
      await writeFile(keyFiles[name], randomBytes(48));
    }
    const rows: Array<[string, string]> = [];
    for (const mode of MODES) for (const tickets of ['on', 'off']) rows.push([`${mode.label}/${tickets}`, `${mode.directive} ssl_session_tickets ${tickets};`]);
    rows.push(['starttls:builtin/off', 'starttls on; ssl_session_cache builtin; ssl_session_tickets off;']);
    rows.push(['starttls:shared/off', 'starttls on; ssl_session_cache shared:RESUME:1m; ssl_session_tickets off;']);
    rows.push(['starttls:none/off', 'starttls on; ssl_session_tickets off;']);
    for (const [name, files] of Object.entries(ROTATION)) {
      rows.push([`keys:${name}`, files.split(' ').map((f) => `ssl_session_ticket_key ${keyFiles[f as 'A' | 'B']};`).join(' ')]);
    }
    const block = (side: 'nginx' | 'postern', list: number[]) =>
      [
        'mail {',
        `  auth_http 127.0.0.1:${deadPort}/auth;`,
        `  ssl_certificate ${cert.certPath}; ssl_certificate_key ${cert.keyPath};`,
        '  ssl_protocols TLSv1.2 TLSv1.3;',
        ...rows.map(([key, directives], i) => {
          ports[side].set(key, list[i]!);
          return server(list[i]!, directives);
        }),
        '}',
      ].join('\n');
    const deadPort = await freePort();
    const list = await freePorts(rows.length * 2);
    ng = await startNginx({ mailBlock: block('nginx', list.slice(0, rows.length)) });
    proxy = await startProxy(parseConfigText(block('postern', list.slice(rows.length)), 'resumption.conf'), { logger: silentLogger() });
  });

  afterAll(async () => {
    await Promise.allSettled([proxy?.close(), ng?.close()]);
    if (dir) await removeDir(dir);
  });

  for (const mode of MODES) {
    for (const tickets of ['on', 'off'] as const) {
      it(`ssl_session_cache ${mode.label}, ssl_session_tickets ${tickets}`, { timeout: 60_000 }, async () => {
        const key = `${mode.label}/${tickets}`;
        const measured: Record<'nginx' | 'postern', Outcome[]> = { nginx: [], postern: [] };
        const pairs = await Promise.all(
          CLIENTS.map((client) =>
            Promise.all([
              resumption(ports.nginx.get(key)!, client.version, client.tickets),
              resumption(ports.postern.get(key)!, client.version, client.tickets),
            ]),
          ),
        );
        for (const [n, p] of pairs) {
          measured.nginx.push(n.outcome);
          measured.postern.push(p.outcome);
          if (n.outcome === 'no session') {
            // nginx's `off`: no session id at all; Postern's: one that never resumes.
            expect(n.first.sessionId).toBe('');
            expect(p.first.sessionId).not.toBe('');
          }
        }
        expect(measured.nginx).toEqual(EXPECTED[mode.label]![tickets]);
        expect(measured.postern).toEqual(EXPECTED[mode.label]![tickets].map(postern));
      });
    }
  }

  for (const version of ['tls1_2', 'tls1_3'] as const) {
    it(`ticket keys rotate (${version}): A's ticket resumes under "B A" and is renewed, not under B alone`, { timeout: 60_000 }, async () => {
      for (const side of ['nginx', 'postern'] as const) {
        const port = (name: string) => ports[side].get(`keys:${name}`)!;
        const fromA = path.join(dir, `${side}-${version}-A.pem`);
        const renewed = path.join(dir, `${side}-${version}-BA.pem`);
        const first = await connect(port('A'), version, { sessOut: fromA });
        expect(first.saved, side).toBe(true);
        const underBA = await connect(port('BA'), version, { sessIn: fromA, sessOut: renewed });
        expect(underBA.reused, `${side}: A's ticket under "B A"`).toBe(true);
        expect((await connect(port('B'), version, { sessIn: fromA })).reused, `${side}: A's ticket under B alone`).toBe(false);
        if (version === 'tls1_2') {
          // A TLS 1.2 client keeps a resumed session in memory only: the renewal shows as a new ticket.
          expect(underBA.ticket, `${side}: a fresh ticket`).not.toBe('');
          expect(underBA.ticket, `${side}: a fresh ticket`).not.toBe(first.ticket);
        } else {
          expect((await connect(port('B'), version, { sessIn: renewed })).reused, `${side}: the renewed ticket under B`).toBe(true);
        }
      }
    });
  }

  it('a key file means the same to both: each one\'s TLS 1.2 ticket opens with the file read as nginx lays it out', async () => {
    const key = parseNginxTicketKey(await readFile(keyFiles.A))!;
    for (const side of ['nginx', 'postern'] as const) {
      const { ticket } = await connect(ports[side].get('keys:A')!, 'tls1_2', {});
      const bytes = Buffer.from(ticket, 'hex');
      // RFC 5077's layout, as OpenSSL writes it: name | IV | AES-CBC(session) | HMAC-SHA256 over the rest.
      expect(bytes.subarray(0, 16).equals(key.name), side).toBe(true);
      const mac = createHmac('sha256', key.hmacKey).update(bytes.subarray(0, -32)).digest();
      expect(mac.equals(bytes.subarray(-32)), `${side}: HMAC`).toBe(true);
      const decipher = createDecipheriv('aes-128-cbc', key.aesKey, bytes.subarray(16, 32));
      const session = Buffer.concat([decipher.update(bytes.subarray(32, -32)), decipher.final()]);
      expect(sessionFields(session)?.protocolVersion, `${side}: a TLS 1.2 session inside`).toBe(0x0303);
    }
  });

  it("a ticket from nginx does not resume on Postern with the same key file (the session id contexts differ)", async () => {
    for (const version of ['tls1_2', 'tls1_3'] as const) {
      const file = path.join(dir, `cross-${version}.pem`);
      expect((await connect(ports.nginx.get('keys:A')!, version, { sessOut: file })).saved).toBe(true);
      expect((await connect(ports.postern.get('keys:A')!, version, { sessIn: file })).reused, version).toBe(false);
    }
  });

  it('implicit TLS 1.3: a client that reads only the greeting and leaves has its ticket (sent before the greeting, as nginx) and resumes', async () => {
    // Python's ssl: the session holds a ticket only once the NewSessionTicket came in; the
    // greeting is all this client reads (nginx's mail_ssl_session_reuse.t does the same).
    const script = `
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
def once(session=None):
    s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1]))), server_hostname='localhost', session=session)
    s.recv(1000)
    facts = (s.session.has_ticket, s.session_reused)
    session = s.session
    s.close()
    return facts, session
(ticket, _), session = once()
(_, reused), _ = once(session)
print(ticket, reused)`;
    for (const key of ['default/on', 'shared/on']) {
      const [n, p] = await Promise.all([python(script, [String(ports.nginx.get(key)!)]), python(script, [String(ports.postern.get(key)!)])]);
      expect([key, n.stdout.trim(), p.stdout.trim()]).toEqual([key, 'True True', 'True True']);
    }
  });

  it('STARTTLS handshakes resume the same way (builtin and shared: yes; none without tickets: no), TLS 1.2 and 1.3', { timeout: 60_000 }, async () => {
    const cases: Array<[string, Outcome]> = [
      ['starttls:builtin/off', 'reused'],
      ['starttls:shared/off', 'reused'],
      ['starttls:none/off', 'new'],
    ];
    for (const [key, expected] of cases) {
      for (const version of ['tls1_2', 'tls1_3'] as const) {
        const [n, p] = await Promise.all([
          resumption(ports.nginx.get(key)!, version, false, true),
          resumption(ports.postern.get(key)!, version, false, true),
        ]);
        expect([key, version, n.outcome, p.outcome]).toEqual([key, version, expected, expected]);
      }
    }
  });
});
