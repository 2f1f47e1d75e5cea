import { resolve } from 'node:path';
import { resolveListenHosts } from '../config/listen-hosts.js';
import type { MailConfig } from '../config/types.js';
import { createLogger, logFilesOpen } from '../log.js';
import { startMaster } from '../process/master.js';
import { pidFileFor, readPidFile, removePidFile, writePidFile } from '../process/pid-file.js';
import { describeListener, reportListeners, type RunPlan } from '../process/plan.js';
import { limitOpenFiles } from '../process/rlimit.js';
import { errnoText } from '../process/errno.js';
import { serveInProcess } from '../process/single.js';
import { keepServingOnUncaught } from '../process/uncaught.js';
import { StartupError } from '../process/startup-error.js';
import type { InspectorRelay } from '../inspect/server.js';
import type { LiveSessionInspector } from '../inspect/inspector.js';
import { say } from './args.js';
import { checkAuthHttpHosts } from './checks.js';
import { loadConfiguration } from './config-file.js';
import { describeFailure as describe } from './failure.js';
import type { MainOptions } from './main-options.js';

const describeFailure = (error: unknown): string => describe(error, [StartupError]);

interface InspectArgs {
  inspect: string | undefined;
  inspectSessions: string | undefined;
  inspectClient: string | undefined;
}

interface InspectSettings {
  port: number;
  sessions: number;
  client?: string;
}

/** `--inspect` and its companions; the inspector module is loaded only when asked for. */
async function inspectSettings(args: InspectArgs): Promise<InspectSettings | null | string> {
  if (args.inspect === undefined) {
    if (args.inspectSessions !== undefined || args.inspectClient !== undefined) return '--inspect-sessions and --inspect-client need --inspect';
    return null;
  }
  const port = Number(args.inspect);
  if (!/^\d+$/.test(args.inspect) || port > 65535) return `invalid --inspect port "${args.inspect}"`;
  const sessionsText = args.inspectSessions ?? '20';
  if (!/^\d+$/.test(sessionsText)) return `invalid --inspect-sessions "${sessionsText}"`;
  const settings: InspectSettings = { port, sessions: Number(sessionsText) };
  if (args.inspectClient !== undefined) {
    const { clientFilter } = await import('../inspect/inspector.js');
    try {
      clientFilter(args.inspectClient);
    } catch (error) {
      return (error as Error).message;
    }
    settings.client = args.inspectClient;
  }
  return settings;
}

/** Nothing but a running process other than this one named in the pid file: its pid file is not Postern's to take. */
function pidFileOwner(path: string): number | null {
  let pid: number;
  try {
    pid = readPidFile(path);
  } catch {
    return null;
  }
  if (pid === process.pid) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

/** `postern [-c FILE]`: serve, in this process or as a master with workers, until stopped. */
export async function runCommand(options: MainOptions, inspectArgs: InspectArgs): Promise<number> {
  const inspect = await inspectSettings(inspectArgs);
  if (typeof inspect === 'string') {
    say(inspect);
    return 2;
  }

  const stateDir = resolve(options.stateDir ?? '.postern');
  const embeddedDefault = options.config === undefined;
  let config: MailConfig;
  let loadConfig: () => Promise<MailConfig>;
  let closeEmbedded = async () => undefined as void;
  let embeddedBanner: string[] = [];
  try {
    if (embeddedDefault) {
      const { startEmbeddedDefault, embeddedDefaultBanner } = await import('../embedded/start.js');
      const embedded = await startEmbeddedDefault(stateDir);
      config = embedded.config;
      loadConfig = embedded.reloadConfig;
      closeEmbedded = embedded.close;
      embeddedBanner = embeddedDefaultBanner();
    } else {
      loadConfig = async () => {
        const read = loadConfiguration(options);
        await checkAuthHttpHosts(read);
        return resolveListenHosts(read);
      };
      config = await loadConfig();
    }
  } catch (error) {
    say(describeFailure(error));
    return 1;
  }
  for (const notice of config.notices) say(`[notice] ${notice}`);
  for (const warning of config.warnings ?? []) say(`[warn] ${warning}`);

  const pidFile = pidFileFor(embeddedDefault ? null : config, stateDir);
  const owner = pidFileOwner(pidFile.path);
  if (owner !== null) {
    say(`[emerg] the pid file "${pidFile.path}" names process ${owner}, which is running: stop it, or give Postern its own pid file (-g 'pid FILE;')`);
    await closeEmbedded();
    return 1;
  }

  const logger = createLogger(config.errorLogs, config.logFormat);
  await logFilesOpen();
  // The master and a single serving process alike: one fault never ends the process.
  keepServingOnUncaught(logger);
  const plan: RunPlan = {
    config,
    // A reload checks syntax and auth_http hosts here; the certificates and keys are read, checked
    // and built once, by the process that serves them (this one, or the new workers as root).
    reloadConfig: async () => {
      const next = await loadConfig();
      for (const notice of next.notices) logger.notice(notice);
      for (const warning of next.warnings ?? []) logger.warn(warning);
      return next;
    },
    describeFailure,
    logger,
  };
  /** nginx stops when it cannot write its pid file; a default path Postern chose only warns (it may need root). */
  const writePid = (): boolean => {
    try {
      writePidFile(pidFile.path);
      return true;
    } catch (error) {
      if (pidFile.configured) {
        say(`[emerg] ${(error as Error).message}`);
        return false;
      }
      say(`[warn] ${(error as Error).message}: postern -s will not find this process (set "pid" in the configuration)`);
      return true;
    }
  };

  // Started as root (config.user is then set), workers serve and switch user; the master stays root.
  if (config.workerProcesses > 1 || config.user !== undefined) {
    if (inspect !== null) {
      say(
        config.user === undefined
          ? '[emerg] --inspect needs "worker_processes 1" (the inspector follows sessions of one process)'
          : '[emerg] --inspect needs one process, and started as root Postern runs workers as "user": start it as another user, with "worker_processes 1"',
      );
      await closeEmbedded();
      return 1;
    }
    let master;
    try {
      master = await startMaster(plan);
    } catch (error) {
      say(describeFailure(error));
      await closeEmbedded();
      return 1;
    }
    const pidWritten = writePid();
    if (pidWritten) {
      for (const listener of master.listeners) say(`listening on ${describeListener(listener)}`);
      say(`master process ${process.pid}, ${config.workerProcesses} worker processes${config.user === undefined ? '' : ` as ${config.user.user}:${config.user.group}`}`);
      for (const line of embeddedBanner) say(line);
    } else process.kill(process.pid, 'SIGTERM');
    const code = await master.done;
    removePidFile(pidFile.path);
    await closeEmbedded();
    logger.flush();
    return pidWritten ? code : 1;
  }

  let relay: InspectorRelay | null = null;
  let inspector: LiveSessionInspector | null = null;
  const stopInspector = async () => {
    inspector?.stop();
    await relay?.close();
  };
  if (inspect !== null) {
    const [{ startInspectorRelay }, { createSessionInspector }] = await Promise.all([import('../inspect/server.js'), import('../inspect/inspector.js')]);
    try {
      relay = await startInspectorRelay({ port: inspect.port });
    } catch (error) {
      say(`[emerg] inspector relay: bind() to 127.0.0.1:${inspect.port} failed ${errnoText(error as NodeJS.ErrnoException)}`);
      await closeEmbedded();
      return 1;
    }
    inspector = createSessionInspector({ url: relay.appUrl, sessions: inspect.sessions, ...(inspect.client === undefined ? {} : { client: inspect.client }) });
  }
  let proxy;
  try {
    limitOpenFiles(config.workerRlimitNofile, logger);
    // Loaded here: a master (started as root) never serves, so it never loads the proxy.
    const { startProxy } = await import('../server.js');
    proxy = await startProxy(config, { logger, ...(inspector === null ? {} : { inspector }) });
  } catch (error) {
    say(describeFailure(error));
    await stopInspector();
    await closeEmbedded();
    return 1;
  }
  if (!writePid()) {
    await proxy.close();
    await stopInspector();
    await closeEmbedded();
    return 1;
  }
  if (relay !== null && inspect !== null) {
    const which = `${inspect.sessions === 0 ? 'no' : `the first ${inspect.sessions}`} session(s)${inspect.client === undefined ? '' : ` from ${inspect.client}`}`;
    say(`inspector: open ${relay.viewerUrl} in a browser on this machine (the page loads https://stately.ai/inspect); streaming ${which}`);
  }
  for (const listener of reportListeners(proxy)) say(`listening on ${describeListener(listener)}`);
  for (const line of embeddedBanner) say(line);

  await serveInProcess(proxy, plan);
  removePidFile(pidFile.path);
  await stopInspector();
  await closeEmbedded();
  logger.flush();
  return 0;
}
