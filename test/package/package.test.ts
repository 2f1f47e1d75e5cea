/**
 * The package is the product (issue 15): `npm pack` of a clean copy of the checkout (no dist/:
 * `prepack` must build it), `npm install --omit=dev` of the tarball into an empty directory, then
 * the installed `postern` as an operator runs it, on the Node.js this suite runs on (.ci/run runs
 * the suite on the machine's Node.js and on Node.js 24). Then what each command loads, through
 * a loader hook (module-trace.mjs): `-t` and a running proxy load neither the conformance suite
 * (fast-check), nor the demo, nor the inspector, nor the certificate maker, nor pino (JSON logs
 * only) or prom-client (`postern_metrics_listen` only).
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { freePorts } from '../e2e/harness/ports.js';
import { requireBinaries } from '../e2e/harness/require.js';
import { makeTempDir, run, spawnDaemon, type RunResult } from '../e2e/harness/proc.js';
import { generateCert } from '../e2e/harness/tls.js';

const tools = requireBinaries(['systemd-analyze', 'logrotate']);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TRACE_HOOK = path.join(ROOT, 'test/package/module-trace.mjs');
/** What must never be loaded by `-t` or by serving a configuration file. */
const ON_DEMAND_ONLY = [/\/node_modules\/pino\//, /\/node_modules\/prom-client\//, /\/node_modules\/fast-check\//, /\/node_modules\/ioredis\//, /\/node_modules\/selfsigned\//, /\/node_modules\/@statelyai\/inspect\//, /\/node_modules\/ws\//, /\/dist\/src\/conformance\//, /\/dist\/src\/demo\//, /\/dist\/src\/inspect\/(server|inspector)\.js$/, /\/dist\/src\/embedded\/(start|certificate)\.js$/];

let dir: string;
let source: string;
let installed: string;
let postern: string;
let conf: string;
let pidFile: string;
let port: number;

const npm = (args: string[], cwd: string): Promise<RunResult> => run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], { cwd, timeoutMs: 240_000 });
const cli = (args: string[], nodeArgs: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<RunResult> => run(process.execPath, [...nodeArgs, postern, ...args], { cwd: dir, env, timeoutMs: 60_000 });

/** The module URLs `postern ARGS` loads (resolved only once it has exited). */
async function modulesOf(args: string[]): Promise<{ result: RunResult; modules: string[] }> {
  const trace = path.join(dir, `trace-${Math.random().toString(36).slice(2)}.txt`);
  const result = await cli(args, ['--import', TRACE_HOOK], { ...process.env, POSTERN_MODULE_TRACE: trace });
  return { result, modules: readFileSync(trace, 'utf8').split('\n').filter(Boolean) };
}

beforeAll(async () => {
  dir = await makeTempDir('package');
  // A clean copy of the checkout: sources only, node_modules borrowed for the build tools.
  source = path.join(dir, 'checkout');
  cpSync(ROOT, source, { recursive: true, filter: (from) => !/\/(node_modules|dist|\.git|\.postern|bench\/results)$/.test(from) });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(source, 'node_modules'));
  const packed = await npm(['pack', '--pack-destination', dir], source);
  expect(packed.code, packed.stderr).toBe(0);
  const tarball = readdirSync(dir).find((f) => /^postern-.*\.tgz$/.test(f));
  expect(tarball, packed.stdout).toBeDefined();
  installed = path.join(dir, 'install');
  mkdirSync(installed);
  const install = await npm(['install', '--omit=dev', path.join(dir, tarball!)], installed);
  expect(install.code, install.stderr).toBe(0);
  postern = path.join(installed, 'node_modules/.bin/postern');
  [port] = (await freePorts(1)) as [number];
  const cert = await generateCert({ dir: path.join(dir, 'cert'), type: 'ec' });
  pidFile = path.join(dir, 'postern.pid');
  conf = path.join(dir, 'mail.conf');
  writeFileSync(
    conf,
    `pid ${pidFile};\nmail {\n    auth_http 127.0.0.1:9/auth;\n    ssl_certificate ${cert.certPath};\n    ssl_certificate_key ${cert.keyPath};\n    starttls on;\n` +
      `    server {\n        listen 127.0.0.1:${port};\n        protocol imap;\n    }\n}\n`,
  );
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm pack, then npm install --omit=dev into an empty directory', () => {
  it('ships the compiled build and the packaging, not the tests nor the sources', () => {
    const pkg = path.join(installed, 'node_modules/postern');
    expect(existsSync(path.join(pkg, 'dist/src/cli/main.js'))).toBe(true);
    expect(existsSync(path.join(pkg, 'dist/machines/connection.js'))).toBe(true);
    expect(existsSync(path.join(pkg, 'packaging/postern.service'))).toBe(true);
    expect(existsSync(path.join(pkg, 'test'))).toBe(false);
    expect(existsSync(path.join(pkg, 'src'))).toBe(false);
    // --omit=dev: no test tooling was installed beside it.
    expect(existsSync(path.join(installed, 'node_modules/vitest'))).toBe(false);
    expect(existsSync(path.join(installed, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(path.join(installed, 'node_modules/fast-check'))).toBe(true);
  });

  it('postern -v prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await cli(['-v']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`postern/${version}\n`);
  });

  it('postern -t -c FILE checks a mail block with TLS as nginx -t does', async () => {
    const r = await cli(['-t', '-c', conf]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`postern: the configuration file ${conf} syntax is ok\npostern: configuration file ${conf} test is successful\n`);
  });

  it.each([['conformance'], ['replay'], ['machines']])('postern %s --help prints its usage and exits 0, doing nothing else', async (command) => {
    const r = await cli([command, '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: postern ${command}`));
    expect(r.stderr).toBe('');
  });

  it('postern machines --format mermaid runs from the package', async () => {
    const r = await cli(['machines', '--format', 'mermaid']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^stateDiagram-v2/);
  });
});

describe('npm start', () => {
  it('does not rebuild a current build (prestart); a changed source is rebuilt', async () => {
    const built = path.join(source, 'dist/src/cli/main.js');
    const before = statSync(built).mtimeMs;
    const current = await run('npm', ['run', '--silent', 'prestart'], { cwd: source, timeoutMs: 120_000 });
    expect(current.code, current.stderr).toBe(0);
    // Untouched output is the proof (a wall-clock bound would only measure the machine's load).
    expect(statSync(built).mtimeMs).toBe(before);
    const later = new Date(Date.now() + 2_000);
    utimesSync(path.join(source, 'src/version.ts'), later, later);
    const stale = await run('npm', ['run', '--silent', 'prestart'], { cwd: source, timeoutMs: 120_000 });
    expect(stale.code, stale.stderr).toBe(0);
    expect(statSync(built).mtimeMs).toBeGreaterThan(before);
  }, 150_000);
});

describe('what each command loads', () => {
  it('-t loads neither the conformance suite, nor the demo, nor the inspector, nor selfsigned', async () => {
    const { result, modules } = await modulesOf(['-t', '-c', conf]);
    expect(result.code, result.stderr).toBe(0);
    expect(modules.some((m) => m.endsWith('/dist/src/cli/check.js'))).toBe(true);
    expect(modules.filter((m) => ON_DEMAND_ONLY.some((re) => re.test(m)))).toEqual([]);
  });

  it('serving a configuration file loads none of them either', async () => {
    const trace = path.join(dir, 'trace-serve.txt');
    const daemon = spawnDaemon(process.execPath, ['--import', TRACE_HOOK, postern, '-c', conf], { cwd: dir, env: { ...process.env, POSTERN_MODULE_TRACE: trace } });
    try {
      const deadline = Date.now() + 30_000;
      while (!daemon.output().includes('listening on') && daemon.alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(daemon.output()).toContain('listening on');
    } finally {
      await daemon.stop();
    }
    const modules = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
    expect(modules.some((m) => m.endsWith('/dist/src/server.js'))).toBe(true);
    expect(modules.filter((m) => ON_DEMAND_ONLY.some((re) => re.test(m)))).toEqual([]);
    // Started as root (as this suite runs), a master and a worker: the master, whose modules come
    // before it forks, never serves, so it loads neither the proxy nor XState (5 MB less RSS).
    expect(process.getuid?.()).toBe(0);
    const forked = modules.findIndex((m) => m.endsWith('/dist/src/process/worker-entry.js'));
    expect(forked).toBeGreaterThan(0);
    const master = modules.slice(0, forked);
    expect(master.some((m) => m.endsWith('/dist/src/process/master.js'))).toBe(true);
    expect(master.filter((m) => /\/dist\/src\/(server|xstate|session\/[^/]+)\.js$|\/node_modules\/xstate\//.test(m))).toEqual([]);
  });

  it('the trace sees them where they are needed: conformance loads fast-check', async () => {
    const { result, modules } = await modulesOf(['conformance', '--help']);
    expect(result.code).toBe(0);
    expect(modules.some((m) => /\/node_modules\/fast-check\//.test(m))).toBe(true);
  });
});

/** A file of packaging/ with the installed paths in place of the ones an `npm install -g` gives. */
function installedCopy(name: string, replacements: Array<[string, string]>): string {
  let text = readFileSync(path.join(ROOT, 'packaging', name), 'utf8');
  for (const [from, to] of replacements) {
    expect(text, `${name} names ${from}`).toContain(from);
    text = text.replaceAll(from, to);
  }
  return text;
}

const until = async (what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe('packaging/: the systemd unit and the logrotate snippet', () => {
  it('the unit checks the file before each start and reload, raises LimitNOFILE and is hardened', () => {
    const unit = readFileSync(path.join(ROOT, 'packaging/postern.service'), 'utf8');
    expect(unit).toMatch(/^ExecStartPre=\/usr\/local\/bin\/postern -t -q -c \/etc\/postern\/postern\.conf$/m);
    expect(unit).toMatch(/^ExecReload=\/usr\/local\/bin\/postern -t -q -c \/etc\/postern\/postern\.conf\nExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(unit).toMatch(/^LimitNOFILE=\d+$/m);
    for (const option of ['NoNewPrivileges=yes', 'ProtectSystem=full', 'PrivateTmp=yes']) expect(unit).toMatch(new RegExp(`^${option}$`, 'm'));
  });

  it.each([
    ['postern.service', []],
    ['postern.service with the non-root drop-in', ['postern-non-root.conf']],
  ])('systemd-analyze verify accepts %s, without a warning', async (_label, dropIns) => {
    const unit = path.join(dir, 'postern.service');
    const bin = [['/usr/local/bin/postern', postern]] as Array<[string, string]>;
    // A drop-in's [Service] section may follow the unit's in one file: systemd merges them alike.
    writeFileSync(unit, [installedCopy('postern.service', bin), ...dropIns.map((d) => readFileSync(path.join(ROOT, 'packaging', d), 'utf8'))].join('\n'));
    const r = await run(tools['systemd-analyze']!, ['verify', unit]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('systemd-analyze verify fails on a broken unit (the check can fail)', async () => {
    const unit = path.join(dir, 'broken.service');
    writeFileSync(unit, installedCopy('postern.service', [['/usr/local/bin/postern', path.join(dir, 'no-such-postern')]]));
    const r = await run(tools['systemd-analyze']!, ['verify', unit]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('no-such-postern');
  });

  it('logrotate with the snippet renames the log and Postern writes the new file (postern -s reopen)', async () => {
    const logDir = path.join(dir, 'log');
    const logConf = path.join(dir, 'rotate.conf');
    writeFileSync(logConf, readFileSync(conf, 'utf8').replace('mail {', `error_log ${logDir}/error.log info;\nmail {`));
    mkdirSync(logDir, { recursive: true });
    const daemon = spawnDaemon(process.execPath, [postern, '-c', logConf], { cwd: dir });
    try {
      const log = path.join(logDir, 'error.log');
      await until(`Postern listening\n${daemon.output()}`, () => daemon.output().includes('listening on'));
      const snippet = path.join(dir, 'postern.logrotate');
      writeFileSync(snippet, installedCopy('postern.logrotate', [['/var/log/postern', logDir], ['/usr/local/bin/postern', postern], ['/etc/postern/postern.conf', logConf]]));
      const rotated = await run(tools.logrotate!, ['--force', '--state', path.join(dir, 'logrotate.state'), snippet]);
      expect(rotated.code, rotated.stderr).toBe(0);
      expect(readFileSync(`${log}.1`, 'utf8')).toContain('start worker process');
      await until('the reopen', () => `${readFileSync(`${log}.1`, 'utf8')}${readFileSync(log, 'utf8')}`.includes('received, reopening logs'));
      // A connection after the reopen is logged in the new file, not in the renamed one.
      const client = net.connect(port, '127.0.0.1');
      await new Promise((r) => client.once('data', r));
      client.destroy();
      await until(`a line in the new ${log}`, () => /"client":"127\.0\.0\.1"|connected/.test(readFileSync(log, 'utf8')));
    } finally {
      await daemon.stop();
    }
  });
});
