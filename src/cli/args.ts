import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The values of a command's options, by long name (each command reads them with its own types). */
export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** What a command's arguments parsed to, or the exit status to return at once (help or a usage error). */
export type CommandArgs = { values: OptionValues; positionals: string[] } | { exit: number };

export const say = (line: string): void => {
  process.stderr.write(`postern: ${line}\n`);
};

/**
 * Every command's arguments: `-h`/`--help` prints the command's usage to stdout and exits 0
 * (before anything else is looked at); an unknown option or a missing value prints the error and
 * the usage to stderr and exits 2. `--help` and `-h` are added to every command's options.
 */
export function parseCommandArgs(argv: string[], options: Options, usage: string): CommandArgs {
  if (argv.includes('--help') || argv.includes('-h')) {
    // Only as an option, not as the value of one (`-c -h` names a file called -h).
    const probe = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: false, allowPositionals: true, tokens: true });
    if (probe.tokens.some((t) => t.kind === 'option' && t.name === 'help')) {
      process.stdout.write(usage);
      return { exit: 0 };
    }
  }
  try {
    const parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
    return { values: parsed.values as OptionValues, positionals: parsed.positionals };
  } catch (error) {
    say((error as Error).message);
    process.stderr.write(usage);
    return { exit: 2 };
  }
}

/** A usage error of a command: the message, the usage, exit status 2. */
export function usageError(message: string, usage: string): number {
  say(message);
  process.stderr.write(usage);
  return 2;
}
