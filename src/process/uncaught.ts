import type { Logger } from '../log.js';

/**
 * The last line of containment (docs/architecture.md): a connection's faults are caught where
 * they happen and close that connection only; anything that still escapes is logged at `alert`
 * and the process keeps serving its other connections, as an nginx worker would have been
 * replaced with all of its connections lost. Installed by the processes that serve clients.
 */
export function keepServingOnUncaught(logger: Logger): void {
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error.stack ?? String(error) }, 'uncaught exception, the process keeps serving');
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason instanceof Error ? (reason.stack ?? reason.message) : String(reason) }, 'unhandled rejection, the process keeps serving');
  });
}
