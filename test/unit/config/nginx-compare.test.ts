/**
 * Where nginx 1.22 with the mail module is installed, run `nginx -t` on the same files and check
 * that Postern reports the same first error. Skipped when nginx is not there; the unit tests in
 * errors.test.ts carry the expected texts on their own.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../../src/config/index.js';
import { groups, type Case } from './error-cases.js';
import { errorOf } from './helpers.js';

const NGINX = '/usr/sbin/nginx';
const MODULE = '/usr/lib/nginx/modules/ngx_mail_module.so';
const available = existsSync(NGINX) && existsSync(MODULE) && spawnSync(NGINX, ['-v']).status === 0;

/** Cases whose message is Postern's own, or where nginx 1.22 words it differently. */
const DIFFERENT = new Set([
  'skipped block without {', // the header already has an events block
  'no mail block',
  'empty file',
  'error_log syslog',
  'https',
  'no port',
  'no port for IPv6',
  'port range',
  'unix socket',
  'unknown parameter', // 1.22: `the invalid "X" parameter`; current nginx: `invalid parameter "X"`
  'ipv6only other',
  'proxy_protocol',
  'multipath',
]);

const dir = available ? mkdtempSync(join(tmpdir(), 'postern-nginx-')) : '';
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
/** Writes the case with nginx's required lines on the same first line, so line numbers match. */
function write(text: string): string {
  const file = join(dir, `case-${counter++}.conf`);
  const header = `load_module ${MODULE}; pid ${dir}/nginx.pid; error_log ${dir}/error.log; events { } `;
  writeFileSync(file, header + text);
  return file;
}

function nginxError(file: string): string | null {
  const run = spawnSync(NGINX, ['-t', '-q', '-p', dir, '-e', `${dir}/error.log`, '-c', file], { encoding: 'utf8' });
  const emerg = run.stderr.split('\n').find((l) => l.startsWith('nginx: [emerg] '));
  return emerg ? emerg.slice('nginx: [emerg] '.length) : null;
}

function posternError(file: string): string | null {
  try {
    loadConfigFile(file);
    return null;
  } catch {
    return errorOf(() => loadConfigFile(file));
  }
}

const cases: Case[] = Object.entries(groups)
  .filter(([group]) => group !== 'notYet')
  .flatMap(([, list]) => list)
  .filter(([name]) => !DIFFERENT.has(name));

describe.skipIf(!available)('same first error as nginx -t (nginx 1.22)', () => {
  it.each(cases)('%s', (_name, text) => {
    const file = write(text);
    expect(posternError(file)).toBe(nginxError(file));
  });

  it.each([
    ['a bare mail block', 'mail { auth_http 127.0.0.1:9000; server { listen 127.0.0.1:18110; protocol pop3; } }'],
    ['inheritance and lists', 'mail { auth_http 127.0.0.1; pop3_auth plain apop; pop3_auth cram-md5; server { listen 18110; protocol pop3; pop3_capabilities TOP; } }'],
    ['quoted values', `mail { auth_http "127.0.0.1:9000/a b"; auth_http_header 'X-A' "a\\"b"; server { listen 18143; protocol imap; timeout "1m 30s"; } }`],
  ])('accepts %s as nginx does', (_name, text) => {
    const file = write(text);
    expect(nginxError(file)).toBeNull();
    expect(posternError(file)).toBeNull();
  });
});
