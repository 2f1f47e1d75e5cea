import type { MailConfig } from '../config/types.js';
import type { WorkerMetrics } from '../metrics/serve.js';

/** A listener as a worker reports it to the master (enough for the log and `listening on` lines). */
export interface ListenerReport {
  host: string;
  port: number;
  ssl: boolean;
  protocol: string;
  starttls: string;
}

/**
 * Master to worker, over the cluster IPC channel (nginx's master uses its channel the same way);
 * `postern` tags our messages among others'. `reopen`: reopen the log files; `metrics`: send
 * this worker's metrics for the master's `/metrics`.
 */
export type ToWorker = { postern: 'start'; config: MailConfig } | { postern: 'reopen' } | { postern: 'metrics'; id: number };

/** Worker to master. */
export type FromWorker =
  | { postern: 'hello' }
  | { postern: 'ready'; listeners: ListenerReport[] }
  | { postern: 'failed'; message: string }
  /** Told to quit, the worker no longer accepts (its sessions go on). */
  | { postern: 'closed' }
  /** The answer to `metrics`: this worker's registry (postern_metrics_listen). */
  | { postern: 'metrics'; id: number; metrics: WorkerMetrics };

export const isFromWorker = (message: unknown): message is FromWorker =>
  typeof message === 'object' && message !== null && typeof (message as { postern?: unknown }).postern === 'string';

/** A worker that cannot start exits with this code, and is not started again (nginx's "fatal code 2"). */
export const FATAL_EXIT = 2;
