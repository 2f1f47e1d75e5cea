/**
 * `npm run nginx-tests -- CHECKOUT [FILE.t ...]`: nginx's own Perl mail tests (a checkout of
 * nginx/nginx-tests; by default its `mail_*.t` and `worker_shutdown_timeout_mail.t`), each file
 * run with `prove` against the real nginx and against Postern (through ./postern-nginx, which
 * serves the tests' `mail { }` with Postern and the rest with nginx), then a per-file table.
 * Exits 1 if a file passes on nginx and not on Postern. See docs/testing.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatTable, regressed, type Comparison } from './compare.js';
import { parseProve, summary } from './tap.js';

const here = dirname(fileURLToPath(import.meta.url));
const checkoutRoot = resolve(here, '../..');
const WRAPPER = join(here, 'postern-nginx');
const NGINX = process.env.POSTERN_WRAPPER_NGINX ?? '/usr/sbin/nginx';
const MODULES = process.env.TEST_NGINX_MODULES ?? '/usr/lib/nginx/modules';
const REFERENCE_VERSION = 'nginx/1.22.1';
/** The longest file takes ~10 s; a hung one is stopped. */
const FILE_TIMEOUT_MS = 300_000;

const fail = (message: string): never => {
  process.stderr.write(`nginx-tests: ${message}\n`);
  process.exit(2);
};

/** What the run needs, checked up front with what to install (a missing piece fails, it never skips). */
function checkPrerequisites(tests: string): void {
  if (!existsSync(join(tests, 'lib/Test/Nginx.pm'))) fail(`${tests} is not an nginx-tests checkout (no lib/Test/Nginx.pm); see docs/testing.md`);
  if (spawnSync('prove', ['--version']).status !== 0) fail('no prove: apt-get install -y perl');
  if (spawnSync('perl', ['-MIO::Socket::SSL', '-e1']).status !== 0) {
    fail('no IO::Socket::SSL (the TLS tests would skip on both sides): apt-get install -y libio-socket-ssl-perl');
  }
  const version = spawnSync(NGINX, ['-V'], { encoding: 'utf8' });
  if (version.status !== 0) fail(`cannot run ${NGINX} -V: apt-get install -y nginx libnginx-mod-mail`);
  if (!version.stderr.includes(`${REFERENCE_VERSION} `) && !version.stderr.includes(`${REFERENCE_VERSION}\n`)) {
    fail(`${NGINX} is not ${REFERENCE_VERSION}, the reference these results are compared with`);
  }
  // Test::Nginx loads every module that -V calls dynamic, from TEST_NGINX_MODULES.
  const missing = [...version.stderr.matchAll(/--with-(\w+?)(?:_module)?=dynamic/g)]
    .map((m) => moduleFile(m[1]!))
    .filter((file) => !existsSync(join(MODULES, file)));
  if (missing.length > 0) {
    fail(`Test::Nginx loads ${missing.join(', ')} from ${MODULES} (nginx -V lists them as dynamic): apt-get install -y --no-install-recommends libnginx-mod-http-geoip libnginx-mod-http-image-filter libnginx-mod-http-perl libnginx-mod-http-xslt-filter libnginx-mod-stream libnginx-mod-stream-geoip libnginx-mod-mail`);
  }
}

/** The module file Test::Nginx's test_globals_modules() names for a `--with-X=dynamic` option. */
function moduleFile(option: string): string {
  const names: Record<string, string> = {
    http_geoip: 'ngx_http_geoip_module.so',
    http_image_filter: 'ngx_http_image_filter_module.so',
    http_perl: 'ngx_http_perl_module.so',
    http_xslt: 'ngx_http_xslt_filter_module.so',
    mail: 'ngx_mail_module.so',
    stream: 'ngx_stream_module.so',
    stream_geoip: 'ngx_stream_geoip_module.so',
  };
  return names[option] ?? `ngx_${option}_module.so`;
}

interface ProveRun {
  output: string;
  stderr: string;
}

function prove(tests: string, file: string, binary: string): Promise<ProveRun> {
  return new Promise((settle) => {
    const child = spawn('prove', ['-v', file], {
      cwd: tests,
      env: { ...process.env, TEST_NGINX_BINARY: binary, TEST_NGINX_MODULES: MODULES },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\nnginx-tests: stopped after ${FILE_TIMEOUT_MS} ms\n`;
      child.kill('SIGTERM');
    }, FILE_TIMEOUT_MS);
    child.once('close', () => {
      clearTimeout(timer);
      settle({ output, stderr });
    });
  });
}

/**
 * Why Postern did not start, if it did not: its own `[emerg]` line, else the wrapper's. (A test
 * that sends its stderr to a file, as mail_error_log.t does, leaves neither here.)
 */
const refusal = (stderr: string): string | undefined =>
  /^postern: \[emerg\] (.*)$/m.exec(stderr)?.[1] ?? /^postern-nginx: \[emerg\] (.*)$/m.exec(stderr)?.[1];

async function main(argv: string[]): Promise<number> {
  const [checkout, ...only] = argv;
  if (checkout === undefined) fail('usage: npm run nginx-tests -- PATH-TO-NGINX-TESTS-CHECKOUT [FILE.t ...]');
  const tests = resolve(checkout!);
  checkPrerequisites(tests);
  const files = only.length > 0 ? only : readdirSync(tests).filter((f) => /^mail_.*\.t$/.test(f) || f === 'worker_shutdown_timeout_mail.t').sort();
  if (files.length === 0) fail(`no mail tests in ${tests}`);

  process.stderr.write('nginx-tests: building Postern (npm run build)\n');
  if (spawnSync('npm', ['run', 'build', '--silent'], { cwd: checkoutRoot, stdio: 'inherit' }).status !== 0) fail('npm run build failed');

  const rows: Comparison[] = [];
  for (const file of files) {
    const nginx = await prove(tests, file, NGINX);
    const postern = await prove(tests, file, WRAPPER);
    const row: Comparison = { file, nginx: parseProve(nginx.output), postern: parseProve(postern.output), posternRefusal: refusal(postern.stderr) };
    rows.push(row);
    process.stderr.write(`nginx-tests: ${file}: nginx ${summary(row.nginx)}, Postern ${summary(row.postern)}\n`);
    if (process.env.NGINX_TESTS_VERBOSE) process.stderr.write(postern.output + postern.stderr);
  }
  process.stdout.write(`${formatTable(rows)}\n`);
  return rows.some(regressed) ? 1 : 0;
}

process.exit(await main(process.argv.slice(2)));
