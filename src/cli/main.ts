import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { ConfigError, loadConfigFile } from '../config/index.js';
import type { MailConfig } from '../config/types.js';
import { createLogger, logFilesOpen } from '../log.js';
import { TlsSetupError } from '../net/tls.js';
import { checkSsl } from '../net/secure-context.js';
import { startProxy, StartupError } from '../server.js';
import { startEmbeddedDefault, DEMO_USERS } from '../embedded/start.js';
import { DEFAULT_PORTS } from '../embedded/default-config.js';
import { VERSION } from '../version.js';
import { startMaster } from '../process/master.js';
import { pidFileFor, removePidFile, writePidFile } from '../process/pid-file.js';
import { describeListener, reportListeners, type RunPlan } from '../process/plan.js';
import { limitOpenFiles } from '../process/rlimit.js';
import { isControlCommand, signalProcess } from '../process/signals.js';
import { errnoText } from '../process/errno.js';
import { serveInProcess } from '../process/single.js';
import { keepServingOnUncaught } from '../process/uncaught.js';
import { printMachines, replayFile } from './commands.js';
import { conformanceCommand } from './conformance.js';
import { DEFAULT_INSPECT_PORT, startInspectorRelay, type InspectorRelay } from '../inspect/server.js';
import { clientFilter, createSessionInspector, type LiveSessionInspector } from '../inspect/inspector.js';

const USAGE = `Usage: postern [-c FILE] [-t] [-q] [-s stop|quit|reload|reopen] [--state-dir DIR] [--inspect[=PORT] [--inspect-sessions N] [--inspect-client CIDR]]
       postern machines [--format json|mermaid|dot]
       postern replay FILE
       postern conformance --target HOST:PORT --protocol pop3|imap|smtp --tls none|starttls|implicit
                 [--starttls-mode on|off|only] [--users FILE] [--runs N] [--seed S] [--path P]
                 [--property ID|N]... [--strict] [--budget-ms MS]
       postern conformance [--runs N] [--seed S] [--property ID|N]... [--strict] [--budget-ms MS]
                 (the embedded default, as \`npm run conformance\`)

Options:
  -c, --config FILE   read the nginx-style configuration (a whole nginx.conf or a mail { } block)
  -t, --test          check the configuration and exit, like nginx -t
  -q, --quiet         with -t, print only errors
  -s, --signal SIG    send SIG to the running Postern named by the pid file: stop (at once),
                      quit (after its sessions end), reload (re-read the configuration),
                      reopen (the log files); see docs/operations.md
      --state-dir DIR where the embedded default keeps its certificate (default ./.postern)
      --format FMT    with machines: json (default), mermaid or dot
      --inspect[=PORT]        stream sessions to the Stately inspector through a relay on
                              127.0.0.1:PORT (default ${DEFAULT_INSPECT_PORT}); see docs/inspector.md
      --inspect-sessions N    inspect only the first N sessions (default 20)
      --inspect-client CIDR   inspect only sessions from this address or CIDR block
  -v, --version       print the version
  -h, --help          this text

Without -c, Postern starts its embedded default: a demo mailbox, a demo auth service and the
proxy on 127.0.0.1 (POP3 ${DEFAULT_PORTS.pop3}, POP3S ${DEFAULT_PORTS.pop3s}, IMAP ${DEFAULT_PORTS.imap}, IMAPS ${DEFAULT_PORTS.imaps}).
`;

const say = (line: string) => process.stderr.write(`postern: ${line}\n`);

/**
 * What nginx -t checks beyond syntax, for every server that uses TLS: certificates, keys,
 * passphrases, ciphers, curves, DH parameters, CAs, CRLs, ticket keys and ssl_conf_command, each
 * error at its directive's FILE:LINE. Warnings (expired certificates...) are printed, as nginx's are.
 */
function checkTls(config: MailConfig): void {
  for (const server of config.servers) {
    const usesTls = server.sslOn || server.starttls !== 'off' || server.listens.some((l) => l.ssl);
    if (!usesTls) continue;
    for (const warning of checkSsl(server)) say(`[warn] ${warning}`);
  }
}

function describeFailure(error: unknown): string {
  if (error instanceof ConfigError || error instanceof StartupError || error instanceof TlsSetupError) return `[emerg] ${error.message}`;
  return `[emerg] ${(error as Error).stack ?? String(error)}`;
}

function sayEmbeddedDefault(): void {
  say(`embedded default running: demo users ${DEMO_USERS.map((u) => `${u.user}:${u.password}`).join(', ')}`);
  say(`try: curl -k --ssl-reqd imaps://127.0.0.1:${DEFAULT_PORTS.imaps}/INBOX -u demo:demo`);
}

/** `postern -s SIG [-c FILE]`: like nginx, read the configuration to find the pid file. */
function signalCommand(name: string, configFile: string | undefined, stateDir: string | undefined): number {
  if (!isControlCommand(name)) {
    say(`invalid option: "-s ${name}"`);
    return 1;
  }
  let config: MailConfig | null = null;
  if (configFile !== undefined) {
    try {
      config = loadConfigFile(resolve(configFile));
    } catch (error) {
      say(describeFailure(error));
      return 1;
    }
  }
  return signalProcess(name, pidFileFor(config, resolve(stateDir ?? '.postern')).path, say);
}

/** `--inspect` takes an optional value, as node's does: a bare one means the default port. */
const normaliseArgs = (argv: string[]): string[] => argv.map((a) => (a === '--inspect' ? `--inspect=${DEFAULT_INSPECT_PORT}` : a));

interface InspectSettings {
  port: number;
  sessions: number;
  client?: string;
}

function inspectSettings(args: { inspect?: string; 'inspect-sessions'?: string; 'inspect-client'?: string }): InspectSettings | null | string {
  if (args.inspect === undefined) {
    if (args['inspect-sessions'] !== undefined || args['inspect-client'] !== undefined) return '--inspect-sessions and --inspect-client need --inspect';
    return null;
  }
  const port = Number(args.inspect);
  if (!/^\d+$/.test(args.inspect) || port > 65535) return `invalid --inspect port "${args.inspect}"`;
  const sessionsText = args['inspect-sessions'] ?? '20';
  if (!/^\d+$/.test(sessionsText)) return `invalid --inspect-sessions "${sessionsText}"`;
  const settings: InspectSettings = { port, sessions: Number(sessionsText) };
  if (args['inspect-client'] !== undefined) {
    try {
      clientFilter(args['inspect-client']);
    } catch (error) {
      return (error as Error).message;
    }
    settings.client = args['inspect-client'];
  }
  return settings;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: normaliseArgs(argv),
      options: {
        config: { type: 'string', short: 'c' },
        test: { type: 'boolean', short: 't' },
        quiet: { type: 'boolean', short: 'q' },
        signal: { type: 'string', short: 's' },
        'state-dir': { type: 'string' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
        format: { type: 'string' },
        inspect: { type: 'string' },
        'inspect-sessions': { type: 'string' },
        'inspect-client': { type: 'string' },
        target: { type: 'string' },
        protocol: { type: 'string' },
        tls: { type: 'string' },
        'starttls-mode': { type: 'string' },
        users: { type: 'string' },
        runs: { type: 'string' },
        seed: { type: 'string' },
        path: { type: 'string' },
        property: { type: 'string', multiple: true },
        strict: { type: 'boolean' },
        'budget-ms': { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    say((error as Error).message);
    process.stderr.write(USAGE);
    return 2;
  }
  const args = parsed.values;
  const [command, ...rest] = parsed.positionals;
  if (command === 'machines') return printMachines(args.format ?? 'json');
  if (command === 'conformance') return conformanceCommand(args);
  if (command === 'replay') {
    if (rest[0] === undefined) {
      say('replay needs a journal file');
      return 2;
    }
    return replayFile(rest[0]);
  }
  if (command !== undefined) {
    say(`unknown command "${command}"`);
    process.stderr.write(USAGE);
    return 2;
  }
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.version) {
    process.stdout.write(`postern/${VERSION}\n`);
    return 0;
  }

  if (args.signal !== undefined) return signalCommand(args.signal, args.config, args['state-dir']);

  if (args.test) {
    const file = resolve(args.config ?? 'postern.conf');
    try {
      const config = loadConfigFile(file);
      for (const notice of config.notices) if (!args.quiet) say(`[notice] ${notice}`);
      for (const warning of config.warnings ?? []) say(`[warn] ${warning}`);
      checkTls(config);
      if (!args.quiet) {
        say(`the configuration file ${file} syntax is ok`);
        say(`configuration file ${file} test is successful`);
      }
      return 0;
    } catch (error) {
      say(describeFailure(error));
      say(`configuration file ${file} test failed`);
      return 1;
    }
  }

  const inspect = inspectSettings(args);
  if (typeof inspect === 'string') {
    say(inspect);
    return 2;
  }

  const stateDir = resolve(args['state-dir'] ?? '.postern');
  let config: MailConfig;
  let loadConfig: () => Promise<MailConfig>;
  let closeEmbedded = async () => undefined as void;
  try {
    if (args.config === undefined) {
      const embedded = await startEmbeddedDefault(stateDir);
      config = embedded.config;
      loadConfig = embedded.reloadConfig;
      closeEmbedded = embedded.close;
    } else {
      const file = resolve(args.config);
      config = loadConfigFile(file);
      loadConfig = async () => loadConfigFile(file);
    }
  } catch (error) {
    say(describeFailure(error));
    return 1;
  }
  for (const notice of config.notices) say(`[notice] ${notice}`);
  for (const warning of config.warnings ?? []) say(`[warn] ${warning}`);

  const logger = createLogger(config.errorLog);
  await logFilesOpen();
  // The master and a single serving process alike: one fault never ends the process.
  keepServingOnUncaught(logger);
  const plan: RunPlan = {
    config,
    // A reload checks what -t checks: syntax, then every certificate and key.
    reloadConfig: async () => {
      const next = await loadConfig();
      for (const notice of next.notices) logger.info(`[notice] ${notice}`);
      for (const warning of next.warnings ?? []) logger.warn(warning);
      checkTls(next);
      return next;
    },
    describeFailure,
    logger,
  };
  const pidFile = pidFileFor(args.config === undefined ? null : config, stateDir);
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
      if (args.config === undefined) sayEmbeddedDefault();
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
  if (args.config === undefined) sayEmbeddedDefault();

  await serveInProcess(proxy, plan);
  removePidFile(pidFile.path);
  await stopInspector();
  await closeEmbedded();
  logger.flush();
  return 0;
}
