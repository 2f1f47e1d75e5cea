// Start-up cost of the compiled CLI (docs/performance.md, "Start-up"): wall time of `postern -v`
// and `postern -t -c FILE`, and of `postern -c FILE` until it listens, with its resident memory
// (VmRSS) and the number of modules it has loaded once listening. Needs `npm run build` first.
// Usage: node bench/startup.mjs [--rounds N]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const cli = join(root, 'bin/postern.js');
const roundsAt = process.argv.indexOf('--rounds');
const rounds = roundsAt > 0 ? Number(process.argv[roundsAt + 1]) : 15;

const freePort = () =>
  new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });

/** The modules `postern ARGS` loads (test/package/module-trace.mjs): files of the build and packages. */
function modulesOf(args) {
  const trace = join(dir, 'modules.txt');
  rmSync(trace, { force: true });
  spawnSync(process.execPath, ['--import', join(root, 'test/package/module-trace.mjs'), cli, ...args], { env: { ...process.env, POSTERN_MODULE_TRACE: trace } });
  const urls = readFileSync(trace, 'utf8').split('\n').filter(Boolean);
  const packages = new Set(urls.map((u) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u)?.[1]).filter(Boolean));
  return `${urls.length} modules (${[...packages].sort().join(', ') || 'no packages'})`;
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function timeCommand(args) {
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`postern ${args.join(' ')}: ${result.stderr}`);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(times);
}

/** Starts `postern -c FILE`, waits for "listening on", reads VmRSS and the loaded module count. */
async function serveOnce(conf, pidFile) {
  const start = process.hrtime.bigint();
  const child = spawn(process.execPath, ['--expose-gc', cli, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise((done, fail) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      if (stderr.includes('listening on')) done();
    });
    child.on('exit', () => fail(new Error(`postern exited: ${stderr}`)));
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await new Promise((r) => setTimeout(r, 1000));
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) / 1024;
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await exited;
  rmSync(pidFile, { force: true });
  return { ms, rss };
}

const dir = mkdtempSync(join(tmpdir(), 'postern-startup-'));
try {
  const pidFile = join(dir, 'postern.pid');
  const conf = join(dir, 'mail.conf');
  writeFileSync(
    conf,
    `pid ${pidFile};\nerror_log ${join(dir, 'error.log')} info;\nmail {\n  auth_http 127.0.0.1:9/auth;\n  server { listen 127.0.0.1:${await freePort()}; protocol imap; }\n  server { listen 127.0.0.1:${await freePort()}; protocol pop3; }\n  server { listen 127.0.0.1:${await freePort()}; protocol smtp; }\n}\n`,
  );
  const version = timeCommand(['-v']);
  const modulesV = modulesOf(['-v']);
  const modulesT = modulesOf(['-t', '-q', '-c', conf]);
  const test = timeCommand(['-t', '-q', '-c', conf]);
  const serves = [];
  for (let i = 0; i < Math.min(rounds, 7); i++) serves.push(await serveOnce(conf, pidFile));
  console.log(`node ${process.version}, ${rounds} rounds, medians`);
  console.log(`postern -v                 ${version.toFixed(0)} ms`);
  console.log(`postern -t -q -c FILE      ${test.toFixed(0)} ms`);
  console.log(`postern -v loads            ${modulesV}`);
  console.log(`postern -t -q -c FILE loads ${modulesT}`);
  console.log(`postern -c FILE, listening ${median(serves.map((s) => s.ms)).toFixed(0)} ms, RSS ${median(serves.map((s) => s.rss)).toFixed(1)} MiB (1 s later)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
