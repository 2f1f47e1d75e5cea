import { reopenLogFiles } from '../log.js';
import { serveOwnMetrics } from '../metrics/serve.js';
import type { RunningProxy } from '../server.js';
import { describeListener, reportListeners, shutdownGraceMs, type RunPlan } from './plan.js';
import { onControlSignals, refuseUpgrade, signalName } from './signals.js';

/**
 * Not root and `worker_processes 1`: this process serves. SIGHUP swaps the configuration in
 * place (new connections get it, live ones keep theirs, listeners on kept addresses never
 * close); SIGTERM/SIGINT close everything; SIGQUIT stops accepting and lets sessions finish
 * (bounded by `worker_shutdown_timeout`); SIGUSR1 reopens the logs. Resolves when the proxy is closed.
 */
export function serveInProcess(proxy: RunningProxy, plan: RunPlan): Promise<void> {
  const { logger } = plan;
  let current = plan.config;
  let reloading = Promise.resolve();
  let ending: Promise<void> | null = null;
  let quitting = false;
  // postern_metrics_listen: healthy until told to stop.
  const metrics = serveOwnMetrics(plan.config, () => ending === null, logger);
  return new Promise<void>((resolveDone) => {
    const end = (run: () => Promise<void>) => {
      ending = run().then(async () => {
        off();
        await (await metrics)?.close();
        logger.notice('exit');
        resolveDone();
      });
    };
    const off = onControlSignals((command, signal) => {
      switch (command) {
        case 'reload':
          if (ending === null) {
            reloading = reloading.then(async () => {
              current = (await reloadInProcess(proxy, plan, signal)) ?? current;
            });
          }
          return;
        case 'reopen':
          logger.notice(`${signalName(signal)} received, reopening logs`);
          reopenLogFiles(logger);
          return;
        case 'upgrade':
          refuseUpgrade(logger, signal);
          return;
        case 'quit':
          if (ending !== null) return;
          quitting = true;
          logger.notice(`${signalName(signal)} received, shutting down gracefully`);
          end(() => proxy.quit(shutdownGraceMs(current)));
          return;
        case 'stop':
          // Also cuts short a graceful shutdown under way, as nginx does.
          logger.notice(`${signalName(signal)} received, exiting`);
          if (ending === null) end(() => proxy.close());
          else if (quitting) void proxy.close();
      }
    });
  });
}

/** nginx's reconfiguration, in place: check first, then swap; a bad configuration changes nothing. */
async function reloadInProcess(proxy: RunningProxy, plan: RunPlan, signal: NodeJS.Signals) {
  const { logger } = plan;
  logger.notice(`${signalName(signal)} received, reconfiguring`);
  try {
    const config = await plan.reloadConfig();
    if (config.workerProcesses !== 1) logger.warn('worker_processes changed: takes effect at the next start (this one runs a single process)');
    await proxy.reload(config);
    logger.notice(`reconfigured from ${config.file}: listening on ${reportListeners(proxy).map(describeListener).join(', ')}`);
    return config;
  } catch (error) {
    logger.error(`${plan.describeFailure(error)}; reload refused, the running configuration keeps serving`);
    return undefined;
  }
}
