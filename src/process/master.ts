import cluster, { type Worker } from 'node:cluster';
import { constants } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MailConfig } from '../config/types.js';
import { logFilePaths, reopenLogFiles } from '../log.js';
import { createPrimarySessionService } from '../net/session-store-ipc.js';
import { StartupError } from './startup-error.js';
import { FATAL_EXIT, isFromWorker, type ListenerReport, type ToWorker } from './messages.js';
import { describeListener, type RunPlan } from './plan.js';
import { handFilesToWorkers } from './privileges.js';
import { serveWorkerMetrics } from '../metrics/serve.js';
import { onControlSignals, refuseUpgrade, signalName, type ControlCommand } from './signals.js';

/**
 * How workers share a listening socket. SCHED_NONE: every worker accepts from the one socket, as
 * nginx's workers do; measured against round-robin (the master accepts and hands sockets out) by
 * bench/workers.ts, see docs/operations.md. NODE_CLUSTER_SCHED_POLICY=rr|none overrides it.
 */
const SCHEDULING = cluster.SCHED_NONE;

/** After `stop` (or a graceful stop's `worker_shutdown_timeout`), workers still alive this long are killed. */
const STOP_KILL_MS = 5_000;
/** How long a reload waits for the old workers to stop accepting before it reports the new configuration. */
const CLOSE_WAIT_MS = 5_000;

const WORKER_ENTRY = fileURLToPath(new URL(`./worker-entry${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/**
 * The worker's Node.js options: the master's, and where this Node.js has it (22.14+),
 * `--disable-sigusr1`, so that no signal can open the inspector even before the worker's own
 * handler is in place (worker-entry.ts installs one first thing for older versions).
 */
const workerExecArgv = (): string[] =>
  process.allowedNodeEnvironmentFlags.has('--disable-sigusr1') && !process.execArgv.includes('--disable-sigusr1')
    ? [...process.execArgv, '--disable-sigusr1']
    : process.execArgv;

export interface RunningMaster {
  /** The listeners as the first worker of the configuration in force bound them. */
  readonly listeners: ListenerReport[];
  /** Resolves with the exit status once every worker is gone. */
  readonly done: Promise<number>;
}

/** A message to a worker; one that has just left gets nothing (and raises no error). */
const post = (worker: Worker, message: ToWorker): void => {
  if (worker.isConnected()) worker.send(message, undefined, () => undefined);
};

const describeExit = (code: number | null, signal: string | null): string =>
  signal ? `on signal ${constants.signals[signal as NodeJS.Signals] ?? signal}` : `with code ${code ?? 0}`;

/** A worker, and the configuration it serves: each reload starts a new generation. */
interface Member {
  worker: Worker;
  generation: number;
  retiring: boolean;
}

/**
 * The master process (always when started as root, else with `worker_processes` > 1). It forks
 * the workers, hands each the checked configuration, serves them the TLS session stores and
 * ticket key secret (src/net/session-store-ipc.ts), restarts a worker that dies, and turns
 * signals into commands, as nginx's master does: SIGHUP checks the configuration, starts a new
 * generation of workers with it and, once they all serve, retires the old ones gracefully (a
 * configuration refused, or new workers that cannot start, change nothing); SIGTERM/SIGINT stop
 * the workers at once, SIGQUIT lets them finish their sessions; SIGUSR1 reopens the logs here,
 * then has every worker reopen its own. Workers read their keys as root and then switch user
 * (worker.ts): only this process keeps the rights to read keys again, which is why a reload
 * means new workers.
 */
export async function startMaster(plan: RunPlan): Promise<RunningMaster> {
  const { logger } = plan;
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = SCHEDULING;
  cluster.setupPrimary({ exec: WORKER_ENTRY, args: [], execArgv: workerExecArgv(), serialization: 'advanced' });

  // `shared:` session caches and the random ticket key secret live here, so that a session
  // resumes on any worker and outlives worker restarts and reloads.
  const sessions = createPrimarySessionService();
  let current: MailConfig = plan.config;
  let generation = 0;
  let listeners: ListenerReport[] = [];
  const members = new Map<number, Member>();
  let stopping: 'stop' | 'quit' | null = null;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));

  /** Forks a worker for `config` and resolves once it serves (rejects with its start-up error). */
  const spawn = (config: MailConfig, ofGeneration: number): Promise<ListenerReport[]> => {
    const worker = cluster.fork();
    sessions.serve(worker);
    const member: Member = { worker, generation: ofGeneration, retiring: false };
    members.set(worker.id, member);
    logger.notice(`start worker process ${worker.process.pid}`);
    return new Promise((resolve, reject) => {
      const onMessage = (message: unknown) => {
        if (!isFromWorker(message)) return;
        if (message.postern === 'hello') post(worker, { postern: 'start', config });
        else if (message.postern === 'ready') settle(() => resolve(message.listeners));
        else if (message.postern === 'failed') settle(() => reject(new StartupError(message.message)));
      };
      const onExit = (code: number | null, signal: string | null) =>
        settle(() =>
          // A worker retired (by a failed reload or a shutdown) before it served is no failure.
          member.retiring || stopping !== null
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

  /** `count` workers of a new generation serving `config`; if one cannot start, none is kept. */
  const startGeneration = async (config: MailConfig, count: number): Promise<ListenerReport[]> => {
    const next = generation + 1;
    handFilesToWorkers(config, logFilePaths(), logger);
    try {
      const started = await Promise.all(Array.from({ length: count }, () => spawn(config, next)));
      generation = next;
      return started[0] ?? [];
    } catch (error) {
      signalAll('SIGTERM', retire((member) => member.generation === next));
      throw error;
    }
  };

  /** Marks the members `which` selects as retiring; returns them. */
  const retire = (which: (member: Member) => boolean): Member[] => {
    const chosen = [...members.values()].filter((member) => !member.retiring && which(member));
    for (const member of chosen) member.retiring = true;
    return chosen;
  };

  const signalAll = (signal: NodeJS.Signals, which: Member[] = [...members.values()]) => {
    for (const { worker } of which) worker.process.kill(signal);
  };

  /** SIGQUIT to `old`; resolves once none of them accepts any more (or CLOSE_WAIT_MS passed). */
  const quitAccepting = (old: Member[]): Promise<unknown> =>
    Promise.all(
      old.map(
        ({ worker }) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(settle, CLOSE_WAIT_MS);
            function onMessage(message: unknown) {
              if (isFromWorker(message) && message.postern === 'closed') settle();
            }
            function settle() {
              clearTimeout(timer);
              worker.off('message', onMessage);
              worker.off('exit', settle);
              resolve();
            }
            worker.on('message', onMessage);
            worker.once('exit', settle);
            worker.process.kill('SIGQUIT');
          }),
      ),
    );

  cluster.on('exit', (worker, code, signal) => {
    const member = members.get(worker.id);
    members.delete(worker.id);
    const how = describeExit(code, signal);
    if (stopping !== null || member?.retiring) {
      logger.notice(`worker process ${worker.process.pid} exited ${how}`);
      if (stopping !== null && members.size === 0) finish(0);
      return;
    }
    if (code === FATAL_EXIT) {
      logger.error(`worker process ${worker.process.pid} exited with fatal code ${FATAL_EXIT} and cannot be respawned`);
      if (members.size === 0) {
        stopping = 'stop';
        finish(1);
      }
      return;
    }
    logger.error(`worker process ${worker.process.pid} exited ${how}`);
    if (member?.generation === generation) {
      spawn(current, generation).catch((error: Error) => logger.error(`a replacement worker failed to start: ${error.message}`));
    }
  });

  const reload = async (signal: NodeJS.Signals) => {
    logger.notice(`${signalName(signal)} received, reconfiguring`);
    let config: MailConfig;
    try {
      config = await plan.reloadConfig();
      listeners = await startGeneration(config, config.workerProcesses);
    } catch (error) {
      logger.error(`${plan.describeFailure(error)}; reload refused, the running configuration keeps serving`);
      return;
    }
    current = config;
    const old = retire((member) => member.generation < generation);
    for (const { worker } of old) logger.notice(`worker process ${worker.process.pid} retired, shutting down gracefully`);
    // New connections go to the new workers only once the old ones stopped accepting.
    await quitAccepting(old);
    logger.notice(`reconfigured from ${config.file}: ${config.workerProcesses} worker processes, listening on ${listeners.map(describeListener).join(', ')}`);
  };

  const reopen = (signal: NodeJS.Signals) => {
    logger.notice(`${signalName(signal)} received, reopening logs`);
    handFilesToWorkers(current, logFilePaths(), logger);
    reopenLogFiles(logger);
    for (const { worker } of members.values()) post(worker, { postern: 'reopen' });
  };

  const shutdown = (command: Exclude<ControlCommand, 'reload' | 'reopen'>, signal: NodeJS.Signals) => {
    if (command === 'quit') {
      if (stopping !== null) return;
      logger.notice(`${signalName(signal)} received, shutting down gracefully`);
      stopping = 'quit';
      signalAll('SIGQUIT');
      // Workers close their sessions at worker_shutdown_timeout; without one, nginx waits for them.
      const timeout = current.workerShutdownTimeoutMs;
      if (timeout !== undefined) setTimeout(() => signalAll('SIGKILL'), timeout + STOP_KILL_MS).unref();
    } else {
      logger.notice(`${signalName(signal)} received, exiting`);
      stopping = 'stop';
      signalAll('SIGTERM');
      setTimeout(() => signalAll('SIGKILL'), STOP_KILL_MS).unref();
    }
    if (members.size === 0) finish(0);
  };

  let reloading = Promise.resolve();
  const off = onControlSignals((command, signal) => {
    if (command === 'reload') {
      if (stopping === null) reloading = reloading.then(() => reload(signal));
    } else if (command === 'reopen') reopen(signal);
    else if (command === 'upgrade') refuseUpgrade(logger, signal);
    else shutdown(command, signal);
  });
  void done.then(() => off());

  try {
    listeners = await startGeneration(current, current.workerProcesses);
  } catch (error) {
    stopping = 'stop';
    signalAll('SIGTERM');
    if (members.size === 0) finish(1);
    await done;
    throw error;
  }

  // postern_metrics_listen: the workers' metrics summed; healthy while a serving worker accepts.
  const metrics = await serveWorkerMetrics(
    plan.config,
    () => [...members.values()].map((member) => member.worker).filter((worker) => worker.isConnected()),
    (worker, id) => post(worker, { postern: 'metrics', id }),
    () => stopping === null && [...members.values()].some((member) => !member.retiring),
    logger,
  );
  const onMetrics = (_worker: Worker, message: unknown) => {
    if (isFromWorker(message) && message.postern === 'metrics') metrics.answer(message.id, message.metrics);
  };
  cluster.on('message', onMetrics);
  void done.then(async () => {
    cluster.off('message', onMetrics);
    await metrics.endpoint?.close();
  });
  return {
    get listeners() {
      return listeners;
    },
    done,
  };
}
