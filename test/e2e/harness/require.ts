/**
 * Fail (never skip) a suite when a binary it needs is missing, naming the install step.
 *
 *   requireBinaries(['nginx', 'dovecot', 'curl', 'openssl']);   // at the top of a test file
 *
 * Throwing at collection time makes vitest report the file as FAILED. Asking for `nginx` also
 * asks for its mail module and checks that it is the reference, nginx 1.22.1 (`nginx -v`):
 * every suite that uses nginx uses it as the oracle, and another version answers differently.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';

interface Known {
  path: string;
  packages: string;
  check?: string;
}

const KNOWN: Record<string, Known> = {
  nginx: { path: '/usr/sbin/nginx', packages: 'nginx libnginx-mod-mail' },
  'nginx-mail': { path: '/usr/lib/nginx/modules/ngx_mail_module.so', packages: 'libnginx-mod-mail' },
  dovecot: { path: '/usr/sbin/dovecot', packages: 'dovecot-imapd dovecot-pop3d' },
  'dovecot-imap': { path: '/usr/lib/dovecot/imap', packages: 'dovecot-imapd' },
  'dovecot-pop3': { path: '/usr/lib/dovecot/pop3', packages: 'dovecot-pop3d' },
  'dovecot-managesieve': { path: '/usr/lib/dovecot/managesieve-login', packages: 'dovecot-managesieved' },
  postfix: { path: '/usr/sbin/postfix', packages: 'postfix' },
  swaks: { path: '/usr/bin/swaks', packages: 'swaks' },
  curl: { path: '/usr/bin/curl', packages: 'curl' },
  openssl: { path: '/usr/bin/openssl', packages: 'openssl' },
  python3: { path: '/usr/bin/python3', packages: 'python3' },
  setpriv: { path: '/usr/bin/setpriv', packages: 'util-linux' },
  unshare: { path: '/usr/bin/unshare', packages: 'util-linux' },
  'systemd-analyze': { path: '/usr/bin/systemd-analyze', packages: 'systemd' },
  logrotate: { path: '/usr/sbin/logrotate', packages: 'logrotate' },
  haproxy: { path: '/usr/sbin/haproxy', packages: 'haproxy' },
  'redis-server': { path: '/usr/bin/redis-server', packages: 'redis-server' },
  'fail2ban-regex': { path: '/usr/bin/fail2ban-regex', packages: 'fail2ban' },
};

/** Implied companions: asking for nginx also checks the mail module, etc. */
const IMPLIES: Record<string, string[]> = {
  nginx: ['nginx-mail'],
  dovecot: ['dovecot-imap', 'dovecot-pop3'],
};

export class MissingBinaryError extends Error {
  override name = 'MissingBinaryError';
}

/** The nginx every comparison is made with (Debian 12's `nginx` + `libnginx-mod-mail`). */
export const REFERENCE_NGINX_VERSION = '1.22.1';

/** The version in `nginx -v`'s output (`nginx version: nginx/1.22.1`), or null. */
export function nginxVersionOf(output: string): string | null {
  return /nginx version: nginx\/(\S+)/.exec(output)?.[1] ?? null;
}

/** Why `nginx -v`'s output is not the reference, or null when it is. */
export function nginxVersionProblem(path: string, output: string): string | null {
  const version = nginxVersionOf(output);
  if (version === REFERENCE_NGINX_VERSION) return null;
  const found = version === null ? `\`${path} -v\` printed ${JSON.stringify(output.trim())}` : `${path} is nginx/${version}`;
  return (
    `${found}, but the reference these tests compare with is nginx/${REFERENCE_NGINX_VERSION}: ` +
    `install Debian 12 (bookworm)'s nginx ${REFERENCE_NGINX_VERSION} with \`bash .ci/run\` or \`apt-get install -y nginx libnginx-mod-mail\``
  );
}

const versionChecked = new Map<string, string | null>();

/** Runs `PATH -v` once per path: why it is not the reference nginx, or null. */
export function referenceNginxProblem(path: string): string | null {
  if (!versionChecked.has(path)) {
    const run = spawnSync(path, ['-v'], { encoding: 'utf8', timeout: 10_000 });
    versionChecked.set(path, nginxVersionProblem(path, `${run.stderr ?? ''}${run.stdout ?? ''}${run.error ? String(run.error) : ''}`));
  }
  return versionChecked.get(path)!;
}

/** Absolute paths of the requested binaries; throws MissingBinaryError naming the fix. */
export function requireBinaries(names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const missing: string[] = [];
  const all = [...new Set(names.flatMap((n) => [n, ...(IMPLIES[n] ?? [])]))];
  for (const name of all) {
    const k = KNOWN[name] ?? { path: name.startsWith('/') ? name : `/usr/bin/${name}`, packages: name };
    let ok = existsSync(k.path);
    if (ok && !k.path.endsWith('.so')) {
      try {
        accessSync(k.path, constants.X_OK);
      } catch {
        ok = false;
      }
    }
    if (!ok) {
      missing.push(`missing ${k.path}: run \`bash .ci/run\` or \`apt-get install -y ${k.packages}\``);
      continue;
    }
    const wrong = name === 'nginx' ? referenceNginxProblem(k.path) : null;
    if (wrong) missing.push(wrong);
    else out[name] = k.path;
  }
  if (missing.length > 0) throw new MissingBinaryError(missing.join('\n'));
  return out;
}
