import type { Worker } from 'node:cluster';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { MailConfig } from '../config/types.js';
import type { ErrorLog } from '../log.js';
import { startMetricsEndpoint, type MetricsEndpoint } from './endpoint.js';
import { processMetrics, promClient } from './proxy-metrics.js';

export type WorkerMetrics = Array<MetricObjectWithValues<MetricValue<string>>>;

/** How long the master waits for a worker's metrics before it answers without them. */
const WORKER_ANSWER_MS = 2_000;

/**
 * The endpoint of a process that serves itself (no workers). A port that cannot be bound is
 * logged (`[emerg] bind() ... failed`) and the proxy serves on without metrics.
 */
export async function serveOwnMetrics(config: MailConfig, healthy: () => boolean, logger: ErrorLog): Promise<MetricsEndpoint | undefined> {
  if (config.metricsListen === undefined) return undefined;
  const { registry } = processMetrics();
  try {
    return await startMetricsEndpoint(config.metricsListen, {
      metrics: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
      healthy,
    });
  } catch (error) {
    logger.emerg(`${(error as Error).message} (postern_metrics_listen)`);
    return undefined;
  }
}

/**
 * The master's endpoint: every worker's registry, asked over the IPC channel and summed
 * (prom-client's aggregation: counters and histograms add up, each process metric as
 * prom-client defines it). A worker that does not answer in time is left out.
 */
export async function serveWorkerMetrics(
  config: MailConfig,
  workers: () => Worker[],
  ask: (worker: Worker, id: number) => void,
  healthy: () => boolean,
  logger: ErrorLog,
): Promise<{ endpoint: MetricsEndpoint | undefined; answer(id: number, metrics: WorkerMetrics): void }> {
  const pending = new Map<number, (metrics: WorkerMetrics) => void>();
  let next = 0;
  const answer = (id: number, metrics: WorkerMetrics) => pending.get(id)?.(metrics);
  if (config.metricsListen === undefined) return { endpoint: undefined, answer };
  const collect = (worker: Worker): Promise<WorkerMetrics | undefined> =>
    new Promise((resolve) => {
      const id = next++;
      const timer = setTimeout(() => settle(undefined), WORKER_ANSWER_MS);
      const settle = (metrics: WorkerMetrics | undefined) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(metrics);
      };
      pending.set(id, settle);
      ask(worker, id);
    });
  try {
    const endpoint = await startMetricsEndpoint(config.metricsListen, {
      metrics: async () => {
        const answers = (await Promise.all(workers().map(collect))).filter((m): m is WorkerMetrics => m !== undefined);
        const registry = promClient().AggregatorRegistry.aggregate(answers);
        return { contentType: registry.contentType, text: await registry.metrics() };
      },
      healthy,
    });
    return { endpoint, answer };
  } catch (error) {
    logger.emerg(`${(error as Error).message} (postern_metrics_listen)`);
    return { endpoint: undefined, answer };
  }
}

/** A worker's answer to the master: its registry as JSON. */
export const workerMetrics = (): Promise<WorkerMetrics> => processMetrics().registry.getMetricsAsJSON() as Promise<WorkerMetrics>;
