/**
 * Started as root, Postern runs as nginx does: the master stays root, the workers (the processes
 * that hold client sockets) switch to `user` (or nobody:nogroup without it) after reading the
 * root-only keys, and still serve privileged ports, whole POP3 and IMAP logins and reloads.
 * Found from the outside: which process holds an accepted socket (/proc/net/tcp inode, then
 * /proc/PID/fd) and its uid (/proc/PID/status).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NGINX_BIN, removeDir, requireBinaries, run } from '../e2e/harness/index.js';
import { fakeBackend, LineClient } from '../integration/fixtures.js';
import {
  alive,
  certificateFingerprint,
  expectLine,
  handToNobody,
  NOBODY,
  posternCommand,
  relayedPop3,
  ROOT,
  servingProcess,
  startPostern,
  stillRelays,
  uidOf,
  until,
  workbench,
  workerPids,
  writeConfig,
  type PosternProcess,
  type Workbench,
} from './helpers.js';

/** A free port below 1024 on 127.0.0.1 (only root may bind it). */
async function freePrivilegedPort(): Promise<number> {
  for (let port = 990; port > 600; port--) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port between 600 and 990');
}

/** An IMAP LOGIN through Postern, relayed to the fake IMAP backend. */
async function relayedImap(port: number): Promise<LineClient> {
  const client = await LineClient.connect(port);
  await expectLine(client, /^\* OK/);
  client.send('a LOGIN test@example.com secret\r\n');
  await expectLine(client, /^a OK/);
  client.send('b NOOP\r\n');
  await expectLine(client, /^b OK NOOP relayed/);
  return client;
}

describe.each([
  { account: 'user nobody nogroup;', rlimit: 4096 },
  // No `user`: nginx's default account; and a limit the kernel refuses, even to root (above nr_open).
  { account: '', rlimit: 99_999_999 },
])('started as root with "$account"', ({ account, rlimit }) => {
  let bench: Workbench;
  let imapBackend: Awaited<ReturnType<typeof fakeBackend>>;
  let postern: PosternProcess;
  let pop3Port: number;
  let imapPort: number;
  let privilegedPort: number;

  const config = () => `${account}
pid ${bench.pidFile};
worker_rlimit_nofile ${rlimit};
mail {
    auth_http 127.0.0.1:${bench.backends.auth.port}/auth;
    ssl_certificate ${bench.live.certificate};
    ssl_certificate_key ${bench.live.key};
    server { listen 127.0.0.1:${pop3Port}; protocol pop3; postern_journal ${journals()}; }
    server { listen 127.0.0.1:${imapPort}; protocol imap; }
    server { listen 127.0.0.1:${privilegedPort} ssl; protocol pop3; }
}
`;
  const workers = () => workerPids(postern).filter((pid) => pid !== postern.pid);
  /** A journal directory that does not exist yet: the master makes it for the workers' account. */
  const journals = () => path.join(bench.dir, 'journals', 'pop3');

  beforeAll(async () => {
    bench = await workbench('privileges', 2);
    [pop3Port, imapPort] = bench.ports as [number, number];
    privilegedPort = await freePrivilegedPort();
    imapBackend = await fakeBackend('imap');
    bench.backends.auth.configure({ backends: { pop3: bench.backends.backend.port, imap: imapBackend.port } });
    writeConfig(bench.conf, config());
    postern = await startPostern(bench.conf, bench.pidFile);
  });

  afterAll(async () => {
    await postern?.daemon.stop(8000);
    await imapBackend?.close();
    await bench?.backends.close();
    if (bench) await removeDir(bench.dir);
  });

  it('the master stays root; the worker holding a client socket runs as nobody; POP3 and IMAP logins are relayed', async () => {
    expect(uidOf(postern.pid)).toBe(0);
    const pop3 = await relayedPop3(pop3Port);
    const imap = await relayedImap(imapPort);
    for (const [client, port] of [[pop3, pop3Port], [imap, imapPort]] as const) {
      const holder = servingProcess(client.socket as net.Socket, port, [postern.pid, ...workers()]);
      expect(holder).toBeDefined();
      expect(holder).not.toBe(postern.pid);
      expect(uidOf(holder!)).toBe(NOBODY);
      expect(readFileSync(`/proc/${holder}/status`, 'utf8')).toMatch(/^Gid:\s+65534\s+65534/m);
    }
    expect(await stillRelays(pop3)).toMatch(/^-ERR unknown command STAT/);
    pop3.close();
    imap.close();
    // The POP3 session's journal, written by the worker as nobody.
    expect(statSync(journals()).uid).toBe(NOBODY);
    const journal = await until('the POP3 session\u2019s journal', () => readdirSync(journals()).find((name) => name.endsWith('.jsonl')));
    expect(statSync(path.join(journals(), journal)).uid).toBe(NOBODY);
  });

  it('serves a privileged port (bound by the root master) with a root-only key', async () => {
    const key = statSync(bench.live.key);
    expect([key.uid, key.mode & 0o777]).toEqual([0, 0o600]);
    const client = await relayedPop3(privilegedPort, { tls: true });
    expect(uidOf(servingProcess(client.socket as net.Socket, privilegedPort, workers())!)).toBe(NOBODY);
    client.close();
  });

  it('reloads with a new root-only key: a new worker reads it as root, then switches to nobody', async () => {
    const before = await certificateFingerprint(privilegedPort);
    bench.useCertificate(bench.certB);
    expect(statSync(bench.live.key).mode & 0o777).toBe(0o600);
    const mark = postern.logs().length;
    process.kill(postern.pid, 'SIGHUP');
    await postern.waitForLog(/^reconfigured from/, mark);
    expect(await certificateFingerprint(privilegedPort)).not.toBe(before);
    const client = await relayedPop3(privilegedPort, { tls: true });
    expect(uidOf(servingProcess(client.socket as net.Socket, privilegedPort, workers())!)).toBe(NOBODY);
    client.close();
    bench.useCertificate(bench.certA);
  });

  it('worker_rlimit_nofile: set on the workers (prlimit), or nginx\u2019s alert when the kernel refuses it', async () => {
    const [worker] = workers().filter(alive);
    const limits = readFileSync(`/proc/${worker}/limits`, 'utf8');
    if (rlimit === 4096) {
      expect(limits).toMatch(/^Max open files\s+4096\s+4096\s+files/m);
    } else {
      expect(limits).not.toMatch(/^Max open files\s+99999999/m);
      await postern.waitForLog(/^setrlimit\(RLIMIT_NOFILE, 99999999\) failed \(1: Operation not permitted\)$/);
    }
  });
});

describe('root-only features and the user directive without root', () => {
  let bench: Workbench;
  beforeAll(async () => {
    bench = await workbench('privileges-t', 1);
    writeConfig(bench.conf, `user nobody nogroup;\npid ${bench.pidFile};\nmail { auth_http 127.0.0.1:9/auth; server { listen 127.0.0.1:${bench.ports[0]}; protocol pop3; } }\n`);
  });
  afterAll(async () => {
    if (bench) await removeDir(bench.dir);
  });

  it('--inspect, which needs one process, is refused as root', async () => {
    const result = await posternCommand(['-c', bench.conf, '--inspect']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^postern: \[emerg\] --inspect needs one process, and started as root Postern runs workers as "user"/m);
  });

  it('not root, -t warns that "user" is ignored, as nginx -t does', async () => {
    const { setpriv } = requireBinaries(['setpriv', 'nginx']);
    handToNobody(bench.dir);
    const asNobody = ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', '--'];
    const nginxConf = path.join(bench.dir, 'nginx.conf');
    writeConfig(nginxConf, `load_module /usr/lib/nginx/modules/ngx_mail_module.so; error_log ${bench.dir}/error.log; events { }\n${readFileSync(bench.conf, 'utf8')}`);
    handToNobody(bench.dir);
    const theirs = await run(setpriv!, [...asNobody, NGINX_BIN, '-t', '-p', `${bench.dir}/`, '-e', `${bench.dir}/error.log`, '-c', nginxConf]);
    const ours = await run(setpriv!, [...asNobody, process.execPath, '--import', 'tsx', path.join(ROOT, 'src/cli/bin.ts'), '-t', '-c', nginxConf], { cwd: ROOT });
    const warning = (stderr: string, program: string) => new RegExp(`^${program}: \\[warn\\] (.*)$`, 'm').exec(stderr)?.[1];
    expect(theirs.code).toBe(0);
    expect(ours.code, ours.stderr).toBe(0);
    expect(warning(theirs.stderr, 'nginx')).toBe(`the "user" directive makes sense only if the master process runs with super-user privileges, ignored in ${nginxConf}:2`);
    expect(warning(ours.stderr, 'postern')).toBe(warning(theirs.stderr, 'nginx'));
  });
});
