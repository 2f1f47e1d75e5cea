import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { ConfigError, loadConfigFile } from '../config/index.js';
import type { MailConfig } from '../config/types.js';
import { createLogger } from '../log.js';
import { createServerSecureContext, TlsSetupError } from '../net/tls.js';
import { startProxy, StartupError } from '../server.js';
import { startEmbeddedDefault, DEMO_USERS } from '../embedded/start.js';
import { DEFAULT_PORTS } from '../embedded/default-config.js';
import { VERSION } from '../version.js';
import { printMachines, replayFile } from './commands.js';

const USAGE = `Usage: postern [-c FILE] [-t] [-q] [--state-dir DIR]
       postern machines [--format json|mermaid|dot]
       postern replay FILE

Options:
  -c, --config FILE   read the nginx-style configuration (a whole nginx.conf or a mail { } block)
  -t, --test          check the configuration and exit, like nginx -t
  -q, --quiet         with -t, print only errors
      --state-dir DIR where the embedded default keeps its certificate (default ./.postern)
      --format FMT    with machines: json (default), mermaid or dot
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
      createServerSecureContext(server.ssl);
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

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        test: { type: 'boolean', short: 't' },
        quiet: { type: 'boolean', short: 'q' },
        'state-dir': { type: 'string' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
        format: { type: 'string' },
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
  let proxy;
  try {
    proxy = await startProxy(config, { logger });
  } catch (error) {
    say(describeFailure(error));
    await closeEmbedded();
    return 1;
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
  await closeEmbedded();
  logger.flush();
  return 0;
}
