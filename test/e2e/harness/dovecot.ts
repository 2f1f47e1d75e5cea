/**
 * Starts a private Dovecot (IMAP + POP3, and ManageSieve when asked) on 127.0.0.1 with its own
 * configuration in a temp dir. Never reads /etc/dovecot (we always pass -c).
 *
 *   const dc = await startDovecot({ users: [{ user: 'alice', password: 'secret' }] });
 *   ... dc.imapPort, dc.pop3Port ...
 *   await dc.close();
 */
import { execFileSync } from 'node:child_process';
import { chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { freePort, sleep } from './ports.js';
import { makeTempDir, removeDir, spawnDaemon } from './proc.js';
import { requireBinaries } from './require.js';
import { generateCert, type CertFiles } from './tls.js';

export const DOVECOT_BIN = '/usr/sbin/dovecot';

export interface DovecotUser {
  user: string;
  /** Plaintext password; must not contain ':' or newlines (passwd-file format). */
  password: string;
}

export interface SeedMessage {
  /** Full RFC 5322 message (LF or CRLF line ends). */
  raw: string;
  /** Maildir subdirectory: 'new' (unseen, default) or 'cur' (seen). */
  seen?: boolean;
}

export interface DovecotOptions {
  users: DovecotUser[];
  /** Messages per user; default: `defaultMessages(user)` (3 small ones and one ~1 MB). */
  messages?: SeedMessage[] | ((user: string) => SeedMessage[]);
  /** Also listen with implicit TLS (imaps/pop3s) and allow STARTTLS; default false. */
  ssl?: boolean;
  /** Certificate to use when `ssl` is set; default: a fresh self-signed RSA one. */
  cert?: CertFiles;
  /**
   * Also serve ManageSieve (RFC 5804; Debian `dovecot-managesieved`) on a free port, scripts kept
   * in each user's home (`~/sieve`, the active one linked from `~/.dovecot.sieve`); STARTTLS is
   * offered when `ssl` is set. Default false. The suite fails when the binary is missing.
   */
  managesieve?: boolean;
  /** Extra lines appended to dovecot.conf. */
  extraConfig?: string;
  /** Milliseconds to wait for the greetings; default 15000. */
  startTimeoutMs?: number;
}

export interface DovecotHandle {
  imapPort: number;
  pop3Port: number;
  imapsPort?: number;
  pop3sPort?: number;
  /** ManageSieve port when `managesieve` was asked for. */
  sievePort?: number;
  /** Temp directory with dovecot.conf, dovecot.log, mail/. */
  dir: string;
  configPath: string;
  mailDir(user: string): string;
  /** Contents of Dovecot's log file so far. */
  log(): Promise<string>;
  close(): Promise<void>;
}

/** Unprivileged system user owning the mailboxes (exists on every Debian: uid 8). */
const MAIL_USER = 'mail';

function lookupId(flag: '-u' | '-g', name: string): number {
  return Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
}

/** Deterministic test messages: three small ones and one of ~1 MB. */
export function defaultMessages(user: string): SeedMessage[] {
  const msg = (n: number, subject: string, body: string, seen = false): SeedMessage => ({
    seen,
    raw:
      `Return-Path: <sender@example.com>\n` +
      `From: Sender <sender@example.com>\n` +
      `To: ${user}\n` +
      `Subject: ${subject}\n` +
      `Date: Mon, 0${n} Jan 2024 10:00:00 +0000\n` +
      `Message-ID: <msg${n}.${user.replace(/[^A-Za-z0-9]/g, '_')}@example.com>\n` +
      `MIME-Version: 1.0\n` +
      `Content-Type: text/plain; charset=us-ascii\n` +
      `\n` +
      body,
  });
  // ~1 MiB body: 76-char lines of a repeating pattern, deterministic.
  const line = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ABCDEFGHIJKL';
  const big: string[] = [];
  for (let i = 0; i < 13_800; i++) big.push(`${String(i).padStart(6, '0')}${line.slice(6)}`);
  return [
    msg(1, 'First test message', 'Hello from message one.\n', true),
    msg(2, 'Second test message', 'Line one\nLine two\n.\n..leading dots\nend\n'),
    msg(3, 'Third test message', 'Short.\n'),
    msg(4, 'Large test message', big.join('\n') + '\n'),
  ];
}

function confString(s: string): string {
  if (/["\n\\]/.test(s)) throw new Error(`dovecot: unsupported character in ${JSON.stringify(s)}`);
  return s;
}

export async function startDovecot(opts: DovecotOptions): Promise<DovecotHandle> {
  const managesieve = opts.managesieve ?? false;
  requireBinaries(managesieve ? ['dovecot', 'dovecot-managesieve'] : ['dovecot']);
  const dir = await makeTempDir('dc');
  const uid = lookupId('-u', MAIL_USER);
  const gid = lookupId('-g', MAIL_USER);
  const runDir = path.join(dir, 'run');
  const stateDir = path.join(dir, 'state');
  const mailRoot = path.join(dir, 'mail');
  const logPath = path.join(dir, 'dovecot.log');
  const passwdPath = path.join(dir, 'passwd');
  const configPath = path.join(dir, 'dovecot.conf');
  await mkdir(stateDir, { recursive: true });
  await mkdir(mailRoot, { recursive: true, mode: 0o755 });

  for (const u of opts.users) {
    if (/[:\n\r/]/.test(u.user) || /[:\n\r]/.test(u.password)) {
      throw new Error(`dovecot: user/password not representable in passwd-file: ${JSON.stringify(u.user)}`);
    }
  }
  await writeFile(passwdPath, opts.users.map((u) => `${u.user}:{PLAIN}${u.password}::::::\n`).join(''), {
    mode: 0o644, // read by the auth process (user dovecot)
  });

  // Seed maildirs (owned by the mail user, as Dovecot writes indexes next to them).
  let seq = 0;
  for (const u of opts.users) {
    const md = path.join(mailRoot, u.user);
    const msgs =
      typeof opts.messages === 'function' ? opts.messages(u.user) : (opts.messages ?? defaultMessages(u.user));
    for (const sub of ['cur', 'new', 'tmp']) await mkdir(path.join(md, sub), { recursive: true });
    const uidlist: string[] = [];
    for (const m of msgs) {
      seq++;
      const base = `${1700000000 + seq}.M${seq}P1.postern-test`;
      const file = m.seen ? path.join(md, 'cur', `${base}:2,S`) : path.join(md, 'new', base);
      await writeFile(file, m.raw.replace(/\r\n/g, '\n'));
      uidlist.push(`${uidlist.length + 1} :${base}`);
    }
    // A fixed UIDVALIDITY (Dovecot's would be the second the mailbox is first opened): the
    // differential suites compare two Dovecots' UIDL and SELECT replies, which must not depend
    // on whether the two first logins fell in the same second.
    await writeFile(path.join(md, 'dovecot-uidlist'), `3 V1700000000 N${uidlist.length + 1}\n${uidlist.map((l) => `${l}\n`).join('')}`);
    for (const p of [md, path.join(md, 'dovecot-uidlist'), ...['cur', 'new', 'tmp'].map((s) => path.join(md, s))]) await chown(p, uid, gid);
    for (const sub of ['cur', 'new']) {
      const { readdir } = await import('node:fs/promises');
      for (const f of await readdir(path.join(md, sub))) await chown(path.join(md, sub, f), uid, gid);
    }
  }

  const ssl = opts.ssl ?? false;
  const cert = ssl ? (opts.cert ?? (await generateCert({ dir: path.join(dir, 'tls') }))) : undefined;
  const imapPort = await freePort();
  const pop3Port = await freePort();
  const imapsPort = ssl ? await freePort() : undefined;
  const pop3sPort = ssl ? await freePort() : undefined;
  const sievePort = managesieve ? await freePort() : undefined;

  const conf = `# generated by test/e2e/harness/dovecot.ts
instance_name = postern-test-${path.basename(dir)}
base_dir = ${confString(runDir)}
state_dir = ${confString(stateDir)}
log_path = ${confString(logPath)}
info_log_path = ${confString(logPath)}
debug_log_path = ${confString(logPath)}
protocols = imap pop3${managesieve ? ' sieve' : ''}
listen = 127.0.0.1
shutdown_clients = yes
verbose_proctitle = yes

ssl = ${ssl ? 'yes' : 'no'}
${cert ? `ssl_cert = <${confString(cert.certPath)}\nssl_key = <${confString(cert.keyPath)}\n` : ''}
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
login_greeting = Dovecot ready.

first_valid_uid = ${Math.min(uid, 1)}
first_valid_gid = ${Math.min(gid, 1)}
mail_location = maildir:${confString(mailRoot)}/%u
mail_privileged_group =

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${confString(passwdPath)}
}
userdb {
  driver = static
  args = uid=${uid} gid=${gid} home=${confString(mailRoot)}/%u
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${imapPort}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${imapsPort ?? 0}
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${pop3Port}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${pop3sPort ?? 0}
    ssl = yes
  }
}
${
  sievePort !== undefined
    ? `service managesieve-login {
  inet_listener sieve {
    address = 127.0.0.1
    port = ${sievePort}
  }
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
`
    : ''
}# Mail processes run as the unprivileged mail user: let them reach the stats socket.
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
protocol pop3 {
  pop3_uidl_format = %08Xu%08Xv
}
${opts.extraConfig ?? ''}
`;
  await writeFile(configPath, conf);

  const daemon = spawnDaemon(DOVECOT_BIN, ['-F', '-c', configPath]);
  const readLog = async (): Promise<string> => {
    try {
      return await readFile(logPath, 'latin1');
    } catch {
      return '';
    }
  };

  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await daemon.stop(8000);
    await removeDir(dir);
  };

  try {
    const timeoutMs = opts.startTimeoutMs ?? 15_000;
    await waitForGreeting(imapPort, /^\* OK/, timeoutMs, daemon.alive);
    await waitForGreeting(pop3Port, /^\+OK/, timeoutMs, daemon.alive);
    if (imapsPort !== undefined) await waitForGreeting(imapsPort, /^\* OK/, timeoutMs, daemon.alive, true);
    if (pop3sPort !== undefined) await waitForGreeting(pop3sPort, /^\+OK/, timeoutMs, daemon.alive, true);
    // ManageSieve's greeting starts with its capability lines (RFC 5804 §1.7).
    if (sievePort !== undefined) await waitForGreeting(sievePort, /^"IMPLEMENTATION" /, timeoutMs, daemon.alive);
  } catch (err) {
    const log = await readLog();
    const out = daemon.output();
    await daemon.stop(2000);
    if (!process.env.POSTERN_KEEP_TMP) await removeDir(dir);
    throw new Error(
      `dovecot did not start: ${(err as Error).message}\n--- output ---\n${out}\n--- dovecot.log ---\n${log}`,
    );
  }

  return {
    imapPort,
    pop3Port,
    ...(imapsPort !== undefined ? { imapsPort } : {}),
    ...(pop3sPort !== undefined ? { pop3sPort } : {}),
    ...(sievePort !== undefined ? { sievePort } : {}),
    dir,
    configPath,
    mailDir: (user: string) => path.join(mailRoot, user),
    log: readLog,
    close,
  };
}

/** Connects repeatedly until the server's first line matches `re` (bounded by timeoutMs). */
async function waitForGreeting(
  port: number,
  re: RegExp,
  timeoutMs: number,
  alive: () => boolean,
  tls = false,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = 'no attempt';
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`dovecot exited (last error: ${lastErr})`);
    try {
      const line = await firstLine(port, Math.min(3000, Math.max(100, deadline - Date.now())), tls);
      if (re.test(line)) return;
      lastErr = `unexpected greeting ${JSON.stringify(line)}`;
    } catch (err) {
      lastErr = (err as Error).message;
    }
    await sleep(50);
  }
  throw new Error(`no greeting on 127.0.0.1:${port} within ${timeoutMs} ms (${lastErr})`);
}

async function firstLine(port: number, timeoutMs: number, useTls: boolean): Promise<string> {
  const tlsMod = useTls ? await import('node:tls') : undefined;
  return new Promise((resolve, reject) => {
    const sock: net.Socket = tlsMod
      ? tlsMod.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
      : net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (err: Error | null, line?: string): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(line ?? '');
    };
    const timer = setTimeout(() => done(new Error('greeting timeout')), timeoutMs);
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const i = buf.indexOf('\n');
      if (i >= 0) done(null, buf.slice(0, i).replace(/\r$/, ''));
    });
    sock.on('error', (e) => done(e));
    sock.on('close', () => done(new Error('closed before greeting')));
  });
}
