/**
 * The system accounts behind `user USER [GROUP]`: nginx's getpwnam()/getgrnam(). Node.js has
 * neither, so `getent` (glibc, NSS-aware like the C calls) answers.
 */
import { execFileSync } from 'node:child_process';

export interface Account {
  user: string;
  group: string;
  uid: number;
  gid: number;
}

/** Whether this process may switch users: nginx looks accounts up (and uses them) only then. */
export const runsAsRoot = (): boolean => process.geteuid?.() === 0;

/** `getent DATABASE NAME`, fields of the entry; null when there is none by that exact name. */
function getent(database: 'passwd' | 'group', name: string): string[] | null {
  let out: string;
  try {
    out = execFileSync('getent', [database, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
  const fields = out.split('\n')[0]!.split(':');
  // getent also looks numbers up as ids; getpwnam("65534") finds nothing.
  return fields[0] === name ? fields : null;
}

/** getpwnam(): the user's id. */
export function userId(name: string): number | null {
  const entry = getent('passwd', name);
  return entry === null ? null : Number(entry[2]);
}

/** getgrnam(): the group's id. */
export function groupId(name: string): number | null {
  const entry = getent('group', name);
  return entry === null ? null : Number(entry[2]);
}

let defaultAccount: Account | string | undefined;

/**
 * nginx's compiled-in account when started as root without `user`: `nobody`, and the group
 * `nobody` where it exists, else `nogroup` (nginx's configure makes that choice on the build
 * machine; Debian's packages get nobody:nogroup). Looked up once per process (every parse,
 * tests included, would otherwise run getent). Returns nginx's error text when an account is missing.
 */
export function nginxDefaultAccount(): Account | string {
  if (defaultAccount !== undefined) return defaultAccount;
  const uid = userId('nobody');
  if (uid === null) return (defaultAccount = 'getpwnam("nobody") failed');
  const nobody = groupId('nobody');
  const [group, gid] = nobody === null ? ['nogroup', groupId('nogroup')] : ['nobody', nobody];
  if (gid === null) return (defaultAccount = `getgrnam("${group}") failed`);
  return (defaultAccount = { user: 'nobody', group, uid, gid });
}
