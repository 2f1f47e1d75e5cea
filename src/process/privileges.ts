/**
 * nginx's privilege model (docs/operations.md): started as root, the master stays root and every
 * worker, the only processes that handle client bytes, switches to the configured account once
 * it has read its certificate keys and before it accepts anything. The master binds the
 * listening sockets (node:cluster), so privileged ports need no rights in the worker.
 */
import { chownSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { MailConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { StartupError } from './startup-error.js';
import { errnoText } from './errno.js';

type Account = NonNullable<MailConfig['user']>;

/** Node.js has these on POSIX systems (@types/node 20 lacks initgroups). */
const posix = process as NodeJS.Process & { initgroups(user: string, extraGroup: number): void; setgid(id: number): void; setuid(id: number): void };

const failure = (call: string, error: unknown): string => `${call} failed ${errnoText(error as NodeJS.ErrnoException)}`;

/**
 * ngx_worker_process_init: setgid, initgroups, setuid. A failed setgid or setuid is fatal
 * (the worker must not serve as root); a failed initgroups is logged and the worker goes on.
 */
export function switchToAccount(account: Account, logger: Logger): void {
  try {
    posix.setgid(account.gid);
  } catch (error) {
    throw new StartupError(failure(`setgid(${account.gid})`, error));
  }
  try {
    posix.initgroups(account.user, account.gid);
  } catch (error) {
    logger.fatal(failure(`initgroups(${account.user}, ${account.gid})`, error));
  }
  try {
    posix.setuid(account.uid);
  } catch (error) {
    throw new StartupError(failure(`setuid(${account.uid})`, error));
  }
}

/**
 * The master's part, before workers start and on reopen: what a worker opens by name after the
 * switch must be its own. The error log is created and given to the account (as nginx's master
 * chowns the logs it reopens); a missing `postern_journal` directory is created for it (an
 * existing one is left as it is: the account must be able to write there).
 */
export function handFilesToWorkers(config: MailConfig, logFiles: readonly string[], logger: Logger): void {
  const account = config.user;
  if (account === undefined) return;
  const files = [config.errorLogs ?? [], ...config.servers.map((server) => server.errorLogs ?? [])].flat().filter((log) => log.target !== 'stderr' && log.syslog === undefined);
  const accessLogs = config.servers.flatMap((server) => server.accessLog?.path ?? []);
  const logs = new Set([...logFiles, ...files.map((log) => log.target), ...accessLogs]);
  for (const path of logs) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      closeSync(openSync(path, 'a'));
    } catch (error) {
      logger.fatal(failure(`open() "${path}"`, error));
      continue;
    }
    try {
      chownSync(path, account.uid, -1);
    } catch (error) {
      logger.fatal(failure(`chown("${path}", ${account.uid})`, error));
    }
  }
  for (const directory of new Set(config.servers.flatMap((server) => server.journalDir ?? []))) {
    try {
      if (mkdirSync(directory, { recursive: true }) !== undefined) chownSync(directory, account.uid, account.gid);
    } catch (error) {
      logger.fatal(failure(`mkdir("${directory}")`, error));
    }
  }
}
