/**
 * `postern`'s command line: the subcommand (or nginx's own options) decides which module is
 * loaded, on demand. `postern -c FILE` and `postern -t` load the proxy and nothing else: neither
 * the conformance suite (fast-check), nor the demo mailbox, nor the inspector, nor the
 * certificate maker. Only this module and args.ts are loaded for every command.
 */
import { DEFAULT_PORTS } from '../embedded/default-config.js';
import { DEFAULT_INSPECT_PORT } from '../inspect/port.js';
import { VERSION } from '../version.js';
import { parseCommandArgs, say, usageError } from './args.js';
import type { MainOptions } from './main-options.js';

export const USAGE = `Usage: postern [-c FILE] [-t | -T] [-q] [-s stop|quit|reload|reopen] [-g DIRECTIVES] [-p PREFIX] [-e FILE]
               [--state-dir DIR] [--inspect[=PORT] [--inspect-sessions N] [--inspect-client CIDR]]
       postern -v | -V | -h
       postern machines [--format json|mermaid|dot]
       postern replay FILE
       postern conformance [--target HOST:PORT --protocol pop3|imap|smtp --tls none|starttls|implicit] [...]
       postern COMMAND --help

Options:
  -c, --config FILE   read the nginx-style configuration (a whole nginx.conf or a mail { } block)
  -t, --test          check the configuration and exit, like nginx -t
  -T, --test-dump     check the configuration, then print every file read (includes too), like nginx -T
  -q, --quiet         with -t, print only errors
  -s, --signal SIG    send SIG to the running Postern named by the pid file: stop (at once),
                      quit (after its sessions end), reload (re-read the configuration),
                      reopen (the log files); see docs/operations.md
  -g, --globals DIRECTIVES
                      main-context directives read before the file, e.g. -g 'pid /run/postern.pid;'
  -p, --prefix PREFIX relative paths of -c, -e, "pid" and "error_log" are taken from PREFIX
  -e, --error-log FILE
                      log here (or "stderr") when the configuration sets no main "error_log"
      --state-dir DIR where the embedded default keeps its certificate (default ./.postern)
      --inspect[=PORT]        stream sessions to the Stately inspector through a relay on
                              127.0.0.1:PORT (default ${DEFAULT_INSPECT_PORT}); see docs/inspector.md
      --inspect-sessions N    inspect only the first N sessions (default 20)
      --inspect-client CIDR   inspect only sessions from this address or CIDR block
  -v, --version       print the version
  -V, --build-info    print the version, the Node.js and OpenSSL it runs on, and TLS facts
  -h, --help          this text

Without -c, Postern starts its embedded default: a demo mailbox, a demo auth service and the
proxy on 127.0.0.1 (POP3 ${DEFAULT_PORTS.pop3}, POP3S ${DEFAULT_PORTS.pop3s}, IMAP ${DEFAULT_PORTS.imap}, IMAPS ${DEFAULT_PORTS.imaps}, SMTP ${DEFAULT_PORTS.smtp}).
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  test: { type: 'boolean', short: 't' },
  'test-dump': { type: 'boolean', short: 'T' },
  quiet: { type: 'boolean', short: 'q' },
  signal: { type: 'string', short: 's' },
  globals: { type: 'string', short: 'g' },
  prefix: { type: 'string', short: 'p' },
  'error-log': { type: 'string', short: 'e' },
  'state-dir': { type: 'string' },
  version: { type: 'boolean', short: 'v' },
  'build-info': { type: 'boolean', short: 'V' },
  inspect: { type: 'string' },
  'inspect-sessions': { type: 'string' },
  'inspect-client': { type: 'string' },
} as const;

/** The subcommands, each in its own module, loaded only when named. */
const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  machines: async (argv) => (await import('./machines.js')).machinesCommand(argv),
  replay: async (argv) => (await import('./replay.js')).replayCommand(argv),
  conformance: async (argv) => (await import('./conformance.js')).conformanceCommand(argv),
};

/** `--inspect` takes an optional value, as node's does: a bare one means the default port. */
const normaliseArgs = (argv: string[]): string[] => argv.map((a) => (a === '--inspect' ? `--inspect=${DEFAULT_INSPECT_PORT}` : a));

/** Runs `postern ARGV` and resolves to the exit status. */
export async function main(argv: string[]): Promise<number> {
  const subcommand = argv[0] === undefined ? undefined : SUBCOMMANDS[argv[0]];
  if (subcommand) return subcommand(argv.slice(1));

  const parsed = parseCommandArgs(normaliseArgs(argv), OPTIONS, USAGE);
  if ('exit' in parsed) return parsed.exit;
  const [positional] = parsed.positionals;
  if (positional !== undefined) {
    return usageError(positional in SUBCOMMANDS ? `"${positional}" must come first: postern ${positional} ...` : `unknown command "${positional}"`, USAGE);
  }
  const values = parsed.values as Partial<Record<keyof typeof OPTIONS, string | boolean>>;
  if (values.version) {
    process.stdout.write(`postern/${VERSION}\n`);
    return 0;
  }
  if (values['build-info']) return (await import('./build-info.js')).printBuildInfo();

  const options: MainOptions = {
    config: values.config as string | undefined,
    globals: values.globals as string | undefined,
    prefix: values.prefix as string | undefined,
    errorLog: values['error-log'] as string | undefined,
    stateDir: values['state-dir'] as string | undefined,
  };
  if (values.signal !== undefined) return (await import('./signal.js')).signalCommand(values.signal as string, options);
  if (values.test || values['test-dump']) return (await import('./check.js')).checkCommand(options, { quiet: values.quiet === true, dump: values['test-dump'] === true });
  if ((options.globals !== undefined || options.prefix !== undefined || options.errorLog !== undefined) && options.config === undefined) {
    say('-g, -p and -e apply to a configuration file: give it with -c (without -c, Postern runs its embedded default)');
    return 2;
  }
  return (await import('./run.js')).runCommand(options, {
    inspect: values.inspect as string | undefined,
    inspectSessions: values['inspect-sessions'] as string | undefined,
    inspectClient: values['inspect-client'] as string | undefined,
  });
}
