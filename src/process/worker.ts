import { createLogger, type Logger } from '../log.js';
import { startProxy, StartupError, type RunningProxy } from '../server.js';
import { TlsSetupError } from '../net/tls.js';
import { SessionServiceUnavailable, workerSessionServices } from '../net/session-store-ipc.js';
import { ConfigError } from '../config/errors.js';
import type { MailConfig } from '../config/types.js';
import { FATAL_EXIT, type FromWorker, type ToWorker } from './messages.js';
import { reportListeners } from './plan.js';
import { signalName } from './signals.js';

const send = (message: FromWorker): void => {
  process.send?.(message);
};

const describe = (error: unknown): string =>
  error instanceof ConfigError || error instanceof StartupError || error instanceof TlsSetupError || error instanceof SessionServiceUnavailable
    ? error.message
    : String((error as Error).stack ?? error);

function firstStart(): Promise<{ config: MailConfig; quitGraceMs: number }> {
  return new Promise((resolve) => {
    const onMessage = (message: ToWorker) => {
      if (message?.postern !== 'start') return;
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
    // Messages that arrive before a listener exists are lost: ask for the configuration now.
    send({ postern: 'hello' });
  });
}

/**
 * A worker process: waits for its configuration from the master, gets the TLS session services
 * from it, binds the listeners (node:cluster shares the sockets), serves, and applies reloads in
 * place as the single-process mode does. SIGTERM/SIGINT: close at once; SIGQUIT or the master
 * gone: stop accepting, let sessions end.
 */
export async function runWorker(): Promise<void> {
  // Until it serves, a worker told to stop or quit (retired while starting) just leaves.
  let leave: (signal: NodeJS.Signals | 'disconnect') => void = () => process.exit(0);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) process.on(signal, () => leave(signal));
  process.on('disconnect', () => leave('disconnect'));
  // The master reloads; a hangup of the terminal must not kill a worker.
  process.on('SIGHUP', () => undefined);

  const { config, quitGraceMs } = await firstStart();
  const logger: Logger = createLogger(config.errorLog);
  let proxy: RunningProxy;
  try {
    // Sessions resume on any worker: shared caches and ticket keys come from the master.
    const sessions = await workerSessionServices();
    proxy = await startProxy(config, { logger, sessions });
  } catch (error) {
    send({ postern: 'failed', message: describe(error) });
    logger.flush();
    process.exit(FATAL_EXIT);
  }
  let reloading = Promise.resolve();
  process.on('message', (message: ToWorker) => {
    if (message?.postern !== 'reload') return;
    reloading = reloading.then(async () => {
      try {
        await proxy.reload(message.config);
        send({ postern: 'reloaded', seq: message.seq, listeners: reportListeners(proxy) });
      } catch (error) {
        send({ postern: 'reloadFailed', seq: message.seq, message: describe(error) });
      }
    });
  });

  let ending = false;
  const exit = (run: () => Promise<void>) => {
    ending = true;
    void run().finally(() => {
      logger.flush();
      process.exit(0);
    });
  };
  leave = (signal) => {
    if (signal === 'SIGTERM' || signal === 'SIGINT') {
      logger.info(`${signalName(signal)} received, exiting`);
      exit(() => proxy.close());
      return;
    }
    if (ending) return;
    logger.info(`${signal === 'disconnect' ? 'master process gone' : `${signalName(signal)} received`}, shutting down gracefully`);
    exit(() => proxy.quit(quitGraceMs));
  };
  send({ postern: 'ready', listeners: reportListeners(proxy) });
}
