/**
 * Fail (never skip) a suite when a binary it needs is missing, naming the install step.
 *
 *   requireBinaries(['nginx', 'dovecot', 'curl', 'openssl']);   // at the top of a test file
 *
 * Throwing at collection time makes vitest report the file as FAILED.
 */
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
  postfix: { path: '/usr/sbin/postfix', packages: 'postfix' },
  swaks: { path: '/usr/bin/swaks', packages: 'swaks' },
  curl: { path: '/usr/bin/curl', packages: 'curl' },
  openssl: { path: '/usr/bin/openssl', packages: 'openssl' },
  python3: { path: '/usr/bin/python3', packages: 'python3' },
  setpriv: { path: '/usr/bin/setpriv', packages: 'util-linux' },
};

/** Implied companions: asking for nginx also checks the mail module, etc. */
const IMPLIES: Record<string, string[]> = {
  nginx: ['nginx-mail'],
  dovecot: ['dovecot-imap', 'dovecot-pop3'],
};

export class MissingBinaryError extends Error {
  override name = 'MissingBinaryError';
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
    if (ok) out[name] = k.path;
    else missing.push(`missing ${k.path}: run \`bash .ci/run\` or \`apt-get install -y ${k.packages}\``);
  }
  if (missing.length > 0) throw new MissingBinaryError(missing.join('\n'));
  return out;
}
