import { createLogger, logFilesOpen, reopenLogFiles, type ErrorLog } from '../log.js';
import { workerMetrics } from '../metrics/serve.js';
import { keepServingOnUncaught } from './uncaught.js';
import { startProxy, type RunningProxy } from '../server.js';
import { StartupError } from './startup-error.js';
import { TlsSetupError } from '../net/tls.js';
import { SessionServiceUnavailable, workerSessionServices } from '../net/session-store-ipc.js';
import { ConfigError } from '../config/errors.js';
import type { MailConfig } from '../config/types.js';
import { FATAL_EXIT, type FromWorker, type ToWorker } from './messages.js';
import { reportListeners, shutdownGraceMs } from './plan.js';
import { switchToAccount } from './privileges.js';
import { limitOpenFiles } from './rlimit.js';
import { signalName } from './signals.js';

/** A message to the master, while there is one (sending on a closed channel raises an error). */
const send = (message: FromWorker): void => {
  if (process.connected) process.send?.(message);
};

const describe = (error: unknown): string =>
  error instanceof ConfigError || error instanceof StartupError || error instanceof TlsSetupError || error instanceof SessionServiceUnavailable
    ? error.message
    : String((error as Error).stack ?? error);

function firstStart(): Promise<MailConfig> {
  return new Promise((resolve) => {
    const onMessage = (message: ToWorker) => {
      if (message?.postern !== 'start') return;
      process.off('message', onMessage);
      resolve(message.config);
    };
    process.on('message', onMessage);
    // Messages that arrive before a listener exists are lost: ask for the configuration now.
    send({ postern: 'hello' });
  });
}

/**
 * A worker process: waits for its configuration from the master, gets the TLS session services
 * from it, reads its certificates and keys, switches to the `user` account (when the master
 * runs as root), then binds the listeners (node:cluster: the master binds, the worker accepts)
 * and serves until told to stop. It serves one configuration: a reload starts new workers.
 * SIGTERM/SIGINT: close at once; SIGQUIT or the master gone: stop accepting, let sessions end
 * (bounded by `worker_shutdown_timeout`); the master's `reopen` message or SIGUSR1: reopen the
 * logs; the master's other signals are ignored, as nginx's workers ignore them.
 */
export async function runWorker(): Promise<void> {
  // Until it serves, a worker told to stop or quit (retired while starting) just leaves.
  let leave: (signal: NodeJS.Signals | 'disconnect') => void = () => process.exit(0);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) process.on(signal, () => leave(signal));
  process.on('disconnect', () => leave('disconnect'));
  let logger: ErrorLog | undefined;
  // A hangup of the terminal must not kill a worker, nor a stray USR2 (whose default is to exit).
  for (const signal of ['SIGHUP', 'SIGUSR2', 'SIGWINCH'] as const) process.on(signal, () => logger?.notice(`${signalName(signal)} received, ignoring`));

  const config = await firstStart();
  logger = createLogger(config.errorLogs, config.logFormat);
  await logFilesOpen();
  const log = logger;
  keepServingOnUncaught(log);
  let proxy: RunningProxy;
  try {
    limitOpenFiles(config.workerRlimitNofile, log);
    // Sessions resume on any worker: shared caches and ticket keys come from the master.
    const sessions = await workerSessionServices();
    const account = config.user;
    proxy = await startProxy(config, {
      logger: log,
      sessions,
      hasMasterChannel: true,
      ...(account === undefined ? {} : { beforeListen: () => switchToAccount(account, log) }),
    });
  } catch (error) {
    send({ postern: 'failed', message: describe(error) });
    log.flush();
    process.exit(FATAL_EXIT);
  }
  const reopen = () => {
    log.notice('reopening logs');
    reopenLogFiles(log);
  };
  // From the master; SIGUSR1 sent to the worker itself does the same where Node.js does not
  // ignore it (the master starts workers with --disable-sigusr1 where Node.js has it).
  process.on('message', (message: ToWorker) => {
    if (message?.postern === 'reopen') reopen();
    else if (message?.postern === 'metrics') void workerMetrics().then((metrics) => send({ postern: 'metrics', id: message.id, metrics }));
  });
  process.on('SIGUSR1', reopen);

  let ending = false;
  const exit = (run: () => Promise<void>) => {
    ending = true;
    void run().finally(() => {
      log.flush();
      process.exit(0);
    });
  };
  leave = (signal) => {
    if (signal === 'SIGTERM' || signal === 'SIGINT') {
      log.notice(`${signalName(signal)} received, exiting`);
      exit(() => proxy.close());
      return;
    }
    if (ending) return;
    log.notice(`${signal === 'disconnect' ? 'master process gone' : `${signalName(signal)} received`}, shutting down gracefully`);
    exit(() => {
      const quitting = proxy.quit(shutdownGraceMs(config));
      // quit() closed the listeners before its first await: the master may say the reload is done.
      send({ postern: 'closed' });
      return quitting;
    });
  };
  send({ postern: 'ready', listeners: reportListeners(proxy) });
}
