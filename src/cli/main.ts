import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { ConfigError, loadConfigFile } from '../config/index.js';
import type { MailConfig } from '../config/types.js';
import { createLogger } from '../log.js';
import { checkServerContext, TlsSetupError } from '../net/tls.js';
import { startProxy, StartupError } from '../server.js';
import { startEmbeddedDefault, DEMO_USERS } from '../embedded/start.js';
import { DEFAULT_PORTS } from '../embedded/default-config.js';
import { VERSION } from '../version.js';
import { printMachines, replayFile } from './commands.js';
import { conformanceCommand } from './conformance.js';
import { DEFAULT_INSPECT_PORT, startInspectorRelay, type InspectorRelay } from '../inspect/server.js';
import { clientFilter, createSessionInspector, type LiveSessionInspector } from '../inspect/inspector.js';

const USAGE = `Usage: postern [-c FILE] [-t] [-q] [--state-dir DIR] [--inspect[=PORT] [--inspect-sessions N] [--inspect-client CIDR]]
       postern machines [--format json|mermaid|dot]
       postern replay FILE
       postern conformance --target HOST:PORT --protocol pop3|imap|smtp --tls none|starttls|implicit
                 [--starttls-mode on|off|only] [--users FILE] [--runs N] [--seed S] [--path P]
       postern conformance [--runs N] [--seed S]   (the embedded default, as \`npm run conformance\`)

Options:
  -c, --config FILE   read the nginx-style configuration (a whole nginx.conf or a mail { } block)
  -t, --test          check the configuration and exit, like nginx -t
  -q, --quiet         with -t, print only errors
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

/** What nginx -t checks beyond syntax: that every certificate and key loads. */
function checkTls(config: MailConfig): void {
  for (const server of config.servers) {
    const usesTls = server.sslOn || server.starttls !== 'off' || server.listens.some((l) => l.ssl);
    if (!usesTls) continue;
    try {
      checkServerContext(server.ssl);
    } catch (error) {
      const where = server.ssl.certificateWhere ?? server.where;
      throw new ConfigError(`${(error as Error).message} in ${where.file}:${where.line}`, where.file, where.line);
    }
  }
}

function describeFailure(error: unknown): string {
  if (error instanceof ConfigError || error instanceof StartupError || error instanceof TlsSetupError) return `[emerg] ${error.message}`;
  return `[emerg] ${(error as Error).stack ?? String(error)}`;
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

  if (args.test) {
    const file = resolve(args.config ?? 'postern.conf');
    try {
      const config = loadConfigFile(file);
      for (const notice of config.notices) if (!args.quiet) say(`[notice] ${notice}`);
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

  let config: MailConfig;
  let closeEmbedded = async () => undefined as void;
  try {
    if (args.config === undefined) {
      const embedded = await startEmbeddedDefault(resolve(args['state-dir'] ?? '.postern'));
      config = embedded.config;
      closeEmbedded = embedded.close;
    } else {
      config = loadConfigFile(resolve(args.config));
    }
  } catch (error) {
    say(describeFailure(error));
    return 1;
  }
  for (const notice of config.notices) say(`[notice] ${notice}`);

  const logger = createLogger(config.errorLog);
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
      say(`[emerg] inspector relay: bind() to 127.0.0.1:${inspect.port} failed (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      await closeEmbedded();
      return 1;
    }
    inspector = createSessionInspector({ url: relay.appUrl, sessions: inspect.sessions, ...(inspect.client === undefined ? {} : { client: inspect.client }) });
  }
  let proxy;
  try {
    proxy = await startProxy(config, { logger, ...(inspector === null ? {} : { inspector }) });
  } catch (error) {
    say(describeFailure(error));
    await stopInspector();
    await closeEmbedded();
    return 1;
  }
  if (relay !== null && inspect !== null) {
    const which = `${inspect.sessions === 0 ? 'no' : `the first ${inspect.sessions}`} session(s)${inspect.client === undefined ? '' : ` from ${inspect.client}`}`;
    say(`inspector: open ${relay.viewerUrl} in a browser on this machine (the page loads https://stately.ai/inspect); streaming ${which}`);
  }
  for (const { server, listen, port } of proxy.listeners) {
    say(`listening on ${listen.host}:${port}${listen.ssl ? ' ssl' : ''} (${server.protocol}${server.starttls === 'off' ? '' : `, starttls ${server.starttls}`})`);
  }
  if (args.config === undefined) {
    say(`embedded default running: demo users ${DEMO_USERS.map((u) => `${u.user}:${u.password}`).join(', ')}`);
    say(`try: curl -k --ssl-reqd imaps://127.0.0.1:${DEFAULT_PORTS.imaps}/INBOX -u demo:demo`);
  }

  await new Promise<void>((resolveStop) => {
    const stop = (signal: string) => {
      say(`${signal} received, exiting`);
      resolveStop();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await proxy.close();
  await stopInspector();
  await closeEmbedded();
  logger.flush();
  return 0;
}
