import { resolveListenHosts } from '../config/listen-hosts.js';
import { say } from './args.js';
import { checkAuthHttpHosts, checkLogFiles, checkTls } from './checks.js';
import { configPath, loadConfiguration } from './config-file.js';
import { describeFailure } from './failure.js';
import type { MainOptions } from './main-options.js';

/**
 * `postern -t` and `postern -T`, nginx's wording: notices and warnings, `syntax is ok`, then what
 * needs the system (log files), then `test is successful` (exit 0) or `test failed` (exit 1).
 * `-T` then prints every file read, includes too, each once, as `# configuration file FILE:`
 * and its text, on stdout.
 */
export async function checkCommand(options: MainOptions, { quiet, dump }: { quiet: boolean; dump: boolean }): Promise<number> {
  const file = configPath(options);
  const files = new Map<string, string>();
  try {
    const read = loadConfiguration(options, (name, text) => {
      if (!files.has(name)) files.set(name, text);
    });
    await checkAuthHttpHosts(read);
    const config = await resolveListenHosts(read);
    for (const notice of config.notices) if (!quiet) say(`[notice] ${notice}`);
    for (const warning of config.warnings ?? []) say(`[warn] ${warning}`);
    for (const warning of checkTls(config)) say(`[warn] ${warning}`);
    if (!quiet) say(`the configuration file ${file} syntax is ok`);
    const logErrors = checkLogFiles(config);
    if (logErrors.length > 0) {
      for (const error of logErrors) say(`[emerg] ${error}`);
      say(`configuration file ${file} test failed`);
      return 1;
    }
    if (!quiet) say(`configuration file ${file} test is successful`);
  } catch (error) {
    say(describeFailure(error));
    say(`configuration file ${file} test failed`);
    return 1;
  }
  if (dump) for (const [name, text] of files) process.stdout.write(`# configuration file ${name}:\n${text}\n`);
  return 0;
}
