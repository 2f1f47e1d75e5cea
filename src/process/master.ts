import cluster, { type Worker } from 'node:cluster';
import { constants } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MailConfig } from '../config/types.js';
import { createPrimarySessionService } from '../net/session-store-ipc.js';
import { StartupError } from '../server.js';
import { FATAL_EXIT, isFromWorker, type FromWorker, type ListenerReport, type ToWorker } from './messages.js';
import { describeListener, type RunPlan } from './plan.js';
import { onControlSignals, signalName, type ControlCommand } from './signals.js';

/**
 * How workers share a listening socket. SCHED_NONE: every worker accepts from the one socket, as
 * nginx's workers do; measured against round-robin (the master accepts and hands sockets out) by
 * bench/workers.ts, see docs/operations.md. NODE_CLUSTER_SCHED_POLICY=rr|none overrides it.
 */
const SCHEDULING = cluster.SCHED_NONE;

/** How long a worker may take to answer a reload before it counts as failed. */
const RELOAD_REPLY_MS = 10_000;
/** After `stop`, workers still alive this long are killed. */
const STOP_KILL_MS = 5_000;

const WORKER_ENTRY = fileURLToPath(new URL(`./worker-entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

export interface RunningMaster {
  /** The listeners as the first worker bound them (kept current by reloads). */
  readonly listeners: ListenerReport[];
  /** Resolves with the exit status once every worker is gone. */
  readonly done: Promise<number>;
}

const describeExit = (code: number | null, signal: string | null): string =>
  signal ? `on signal ${constants.signals[signal as NodeJS.Signals] ?? signal}` : `with code ${code ?? 0}`;

/**
 * `worker_processes N` (N > 1): this process is the master. It forks N workers, hands each the
 * checked configuration, serves them the TLS session stores and ticket key secret
 * (src/net/session-store-ipc.ts), restarts a worker that dies, and turns signals into commands: SIGHUP
 * checks the configuration and has every worker swap to it in place (a refused one changes
 * nothing), SIGTERM/SIGINT stop the workers at once, SIGQUIT lets them finish their sessions.
 */
export async function startMaster(plan: RunPlan): Promise<RunningMaster> {
  const { logger } = plan;
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = SCHEDULING;
  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], serialization: 'advanced' });

  // `shared:` session caches and the random ticket key secret live here, so that a session
  // resumes on any worker and outlives worker restarts and reloads.
  const sessions = createPrimarySessionService();
  let current: MailConfig = plan.config;
  let listeners: ListenerReport[] = [];
  const live = new Map<number, Worker>();
  /** Workers serving (the others are starting: a reload reaches them once they serve). */
  const serving = new Set<number>();
  const retiring = new Set<number>();
  let stopping: 'stop' | 'quit' | null = null;
  let reloadSeq = 0;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));

  const post = (worker: Worker, message: ToWorker) => worker.send(message);

  /** Forks a worker and resolves once it serves `config` (rejects with its start-up error). */
  const spawn = (): Promise<ListenerReport[]> => {
    const worker = cluster.fork();
    sessions.serve(worker);
    live.set(worker.id, worker);
    logger.info(`start worker process ${worker.process.pid}`);
    let given: MailConfig = current;
    return new Promise((resolve, reject) => {
      const onMessage = (message: unknown) => {
        if (!isFromWorker(message)) return;
        if (message.postern === 'hello') {
          given = current;
          post(worker, { postern: 'start', config: given, quitGraceMs: plan.quitGraceMs });
        } else if (message.postern === 'ready') {
          serving.add(worker.id);
          // A reload while this worker was starting: bring it up to date.
          if (given !== current) {
            void reloadWorkers([worker], current).then(([answer]) => {
              if (answer?.postern === 'reloadFailed') logger.error(`worker process ${worker.process.pid}: ${answer.message}`);
            });
          }
          settle(() => resolve(message.listeners));
        }
        else if (message.postern === 'failed') settle(() => reject(new StartupError(message.message)));
      };
      const onExit = (code: number | null, signal: string | null) =>
        settle(() =>
          // A worker retired (by a reload or shutdown) before it served is no failure.
          retiring.has(worker.id) || stopping !== null
            ? resolve([])
            : reject(new StartupError(`worker process ${worker.process.pid} exited ${describeExit(code, signal)} while starting`)),
        );
      const settle = (then: () => void) => {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        then();
      };
      worker.on('message', onMessage);
      worker.once('exit', onExit);
    });
  };

  const active = () => [...live.values()].filter((worker) => serving.has(worker.id) && !retiring.has(worker.id));

  const signalAll = (signal: NodeJS.Signals, workers: Worker[] = [...live.values()]) => {
    for (const worker of workers) worker.process.kill(signal);
  };

  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker.id);
    serving.delete(worker.id);
    const wasRetiring = retiring.delete(worker.id);
    const how = describeExit(code, signal);
    if (stopping !== null || wasRetiring) {
      logger.info(`worker process ${worker.process.pid} exited ${how}`);
      if (stopping !== null && live.size === 0) finish(0);
      return;
    }
    if (code === FATAL_EXIT) {
      logger.error(`worker process ${worker.process.pid} exited with fatal code ${FATAL_EXIT} and cannot be respawned`);
      if (live.size === 0) {
        stopping = 'stop';
        finish(1);
      }
      return;
    }
    logger.error(`worker process ${worker.process.pid} exited ${how}`);
    spawn().catch((error: Error) => logger.error(`a replacement worker failed to start: ${error.message}`));
  });

  /** Sends `config` to `workers` and collects their answers (a silent worker counts as failed). */
  const reloadWorkers = (workers: Worker[], config: MailConfig) =>
    Promise.all(
      workers.map((worker) => {
        const seq = ++reloadSeq;
        return new Promise<FromWorker>((resolve) => {
          const timer = setTimeout(() => settle({ postern: 'reloadFailed', seq, message: `worker process ${worker.process.pid} did not answer the reload` }), RELOAD_REPLY_MS);
          const onMessage = (message: unknown) => {
            if (isFromWorker(message) && (message.postern === 'reloaded' || message.postern === 'reloadFailed') && message.seq === seq) settle(message);
          };
          const onExit = () => settle({ postern: 'reloadFailed', seq, message: `worker process ${worker.process.pid} exited during the reload` });
          const settle = (answer: FromWorker) => {
            clearTimeout(timer);
            worker.off('message', onMessage);
            worker.off('exit', onExit);
            resolve(answer);
          };
          worker.on('message', onMessage);
          worker.once('exit', onExit);
          post(worker, { postern: 'reload', seq, config });
        });
      }),
    );

  const reload = async (signal: NodeJS.Signals) => {
    logger.info(`${signalName(signal)} received, reconfiguring`);
    let config: MailConfig;
    try {
      config = await plan.reloadConfig();
    } catch (error) {
      logger.error(`${plan.describeFailure(error)}; reload refused, the running configuration keeps serving`);
      return;
    }
    const workers = active();
    const answers = await reloadWorkers(workers, config);
    const failure = answers.find((answer) => answer.postern === 'reloadFailed');
    if (failure !== undefined && failure.postern === 'reloadFailed') {
      // All or nothing: workers that took the new configuration go back to the old one.
      const took = workers.filter((_, i) => answers[i]!.postern === 'reloaded');
      await reloadWorkers(took, current);
      logger.error(`[emerg] ${failure.message}; reload refused, the running configuration keeps serving`);
      return;
    }
    current = config;
    const first = answers[0];
    if (first?.postern === 'reloaded') listeners = first.listeners;
    // Starting workers count too (they get the new configuration when they are ready); the newest go first.
    const running = [...live.values()].filter((worker) => !retiring.has(worker.id));
    const surplus = running.slice(config.workerProcesses);
    for (const worker of surplus) {
      retiring.add(worker.id);
      logger.info(`worker process ${worker.process.pid} retired (worker_processes ${config.workerProcesses})`);
    }
    signalAll('SIGQUIT', surplus);
    for (let n = running.length; n < config.workerProcesses; n++) {
      spawn().catch((error: Error) => logger.error(`a new worker failed to start: ${error.message}`));
    }
    logger.info(`reconfigured from ${config.file}: ${config.workerProcesses} worker processes, listening on ${listeners.map(describeListener).join(', ')}`);
  };

  const shutdown = (command: Exclude<ControlCommand, 'reload'>, signal: NodeJS.Signals) => {
    if (command === 'quit') {
      if (stopping !== null) return;
      logger.info(`${signalName(signal)} received, shutting down gracefully`);
      stopping = 'quit';
      signalAll('SIGQUIT');
      setTimeout(() => signalAll('SIGKILL'), plan.quitGraceMs + STOP_KILL_MS).unref();
    } else {
      logger.info(`${signalName(signal)} received, exiting`);
      stopping = 'stop';
      signalAll('SIGTERM');
      setTimeout(() => signalAll('SIGKILL'), STOP_KILL_MS).unref();
    }
    if (live.size === 0) finish(0);
  };

  let reloading = Promise.resolve();
  const off = onControlSignals((command, signal) => {
    if (command === 'reload') {
      if (stopping === null) reloading = reloading.then(() => reload(signal));
    } else shutdown(command, signal);
  });
  void done.then(() => off());

  try {
    const started = await Promise.all(Array.from({ length: current.workerProcesses }, () => spawn()));
    listeners = started[0] ?? [];
  } catch (error) {
    stopping = 'stop';
    signalAll('SIGTERM');
    if (live.size === 0) finish(1);
    await done;
    throw error;
  }
  return {
    get listeners() {
      return listeners;
    },
    done,
  };
}
