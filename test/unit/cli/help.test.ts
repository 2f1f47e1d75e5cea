/**
 * Every command answers -h/--help with its usage on stdout and exit 0, doing nothing else (no
 * conformance run, no journal read, no server); an unknown option prints the error and the usage
 * on stderr and exits 2.
 */
import { describe, expect, it } from 'vitest';
import { cli } from './run-cli.js';

const COMMANDS: Array<[label: string, prefix: string[], usage: RegExp]> = [
  ['postern', [], /^Usage: postern \[-c FILE\]/],
  ['postern machines', ['machines'], /^Usage: postern machines /],
  ['postern replay', ['replay'], /^Usage: postern replay FILE\n/],
  ['postern conformance', ['conformance'], /^Usage: postern conformance --target /],
];

describe('--help and -h', () => {
  it.each(COMMANDS.flatMap(([label, prefix, usage]) => ['--help', '-h'].map((flag) => [`${label} ${flag}`, [...prefix, flag], usage] as const)))(
    '%s prints the usage and exits 0',
    async (_label, args, usage) => {
      const started = Date.now();
      const r = await cli([...args]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(usage);
      expect(r.stderr).toBe('');
      // Nothing else was done: a conformance run takes minutes, the embedded default binds ports.
      expect(Date.now() - started).toBeLessThan(5_000);
    },
  );

  it('--help wins over the other options and the arguments, wherever it is', async () => {
    for (const args of [['conformance', '--runs', '3', '--help'], ['replay', 'no-such-journal.jsonl', '-h'], ['-t', '-c', 'no-such.conf', '--help']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: postern/);
    }
  });

  it('-h as the value of an option is not help (node:util refuses a value that looks like an option)', async () => {
    const r = await cli(['-t', '-c', '-h']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^postern: Option '-c[^']*' argument is ambiguous/);
  });
});

describe('usage errors exit 2 with the usage on stderr', () => {
  it.each([
    [['--bogus'], /^postern: Unknown option '--bogus'/, /Usage: postern \[-c FILE\]/],
    [['machines', '--bogus'], /^postern: Unknown option '--bogus'/, /Usage: postern machines /],
    [['replay', '--bogus'], /^postern: Unknown option '--bogus'/, /Usage: postern replay /],
    [['conformance', '--bogus'], /^postern: Unknown option '--bogus'/, /Usage: postern conformance /],
    [['replay'], /^postern: replay needs a journal file\n/, /Usage: postern replay /],
    [['frobnicate'], /^postern: unknown command "frobnicate"\n/, /Usage: postern \[-c FILE\]/],
    [['-t', 'machines'], /^postern: "machines" must come first: postern machines \.\.\.\n/, /Usage: postern \[-c FILE\]/],
    [['-c'], /^postern: Option '-c[^']*' argument missing/, /Usage: postern \[-c FILE\]/],
  ])('postern %j', async (args, message, usage) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(usage);
  });
});

describe('-v and -V', () => {
  it('-v prints the version on stdout', async () => {
    const r = await cli(['-v']);
    expect(r).toEqual({ code: 0, stdout: expect.stringMatching(/^postern\/\d+\.\d+\.\d+\n$/), stderr: '' });
  });

  it('-V prints the version and what it runs on, on stderr as nginx -V does', async () => {
    const r = await cli(['-V']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `postern version: postern/${/^postern\/(.*)\n$/.exec((await cli(['-v'])).stdout)![1]}\nrunning on Node.js ${process.version} (${process.platform}-${process.arch})\nbuilt with OpenSSL ${process.versions.openssl}\nTLS SNI support enabled\n`,
    );
  });
});
