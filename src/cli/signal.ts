import { resolve } from 'node:path';
import type { MailConfig } from '../config/types.js';
import { pidFileFor } from '../process/pid-file.js';
import { isControlCommand, signalProcess } from '../process/signals.js';
import { say } from './args.js';
import { loadConfiguration } from './config-file.js';
import { describeFailure } from './failure.js';
import type { MainOptions } from './main-options.js';

/** `postern -s SIG [-c FILE]`: like nginx, read the configuration to find the pid file. */
export function signalCommand(name: string, options: MainOptions): number {
  if (!isControlCommand(name)) {
    say(`invalid option: "-s ${name}"`);
    return 1;
  }
  let config: MailConfig | null = null;
  if (options.config !== undefined) {
    try {
      config = loadConfiguration(options);
    } catch (error) {
      say(describeFailure(error));
      return 1;
    }
  }
  return signalProcess(name, pidFileFor(config, resolve(options.stateDir ?? '.postern')).path, say);
}
