import { constants } from 'node:os';
import type { Logger } from '../log.js';
import { PidFileError, readPidFile } from './pid-file.js';
import { errnoText } from './errno.js';

/** What `postern -s` can ask of a running Postern, and the signal that carries it (nginx's). */
export const CONTROL_SIGNALS = {
  stop: 'SIGTERM',
  quit: 'SIGQUIT',
  reopen: 'SIGUSR1',
  reload: 'SIGHUP',
} as const satisfies Record<string, NodeJS.Signals>;

export type ControlCommand = keyof typeof CONTROL_SIGNALS;

/** What a signal asks of a running Postern; `upgrade` is nginx's binary upgrade, which Postern does not do. */
export type SignalCommand = ControlCommand | 'upgrade';

export const isControlCommand = (name: string): name is ControlCommand => Object.hasOwn(CONTROL_SIGNALS, name);

/** `signal 1 (SIGHUP)`, as nginx names a signal in its log. */
export const signalName = (signal: NodeJS.Signals): string => `signal ${constants.signals[signal]} (${signal})`;

/**
 * `postern -s COMMAND`: signal the process named by the pid file. Returns nginx's exit status
 * and writes nginx's messages (`[error] open() "..." failed (2: No such file or directory)`).
 */
export function signalProcess(command: ControlCommand, pidFile: string, say: (line: string) => void): number {
  let pid: number;
  try {
    pid = readPidFile(pidFile);
  } catch (error) {
    if (!(error instanceof PidFileError)) throw error;
    say(`[error] ${error.message}`);
    return 1;
  }
  const signal = CONTROL_SIGNALS[command];
  try {
    process.kill(pid, signal);
  } catch (error) {
    say(`[alert] kill(${pid}, ${constants.signals[signal]}) failed ${errnoText(error as NodeJS.ErrnoException)}`);
    return 1;
  }
  return 0;
}

const ROUTES: ReadonlyArray<[NodeJS.Signals, SignalCommand]> = [
  ['SIGHUP', 'reload'],
  ['SIGTERM', 'stop'],
  ['SIGINT', 'stop'],
  ['SIGQUIT', 'quit'],
  ['SIGUSR1', 'reopen'],
  ['SIGUSR2', 'upgrade'],
  ['SIGWINCH', 'upgrade'],
];

/**
 * Routes the signals of a running Postern (master or single process), nginx's: SIGHUP reloads,
 * SIGTERM and SIGINT stop at once, SIGQUIT stops gracefully, SIGUSR1 reopens the logs; SIGUSR2
 * and SIGWINCH (binary upgrade) are answered by `refuseUpgrade`. Returns a function that removes
 * the handlers.
 */
export function onControlSignals(handler: (command: SignalCommand, signal: NodeJS.Signals) => void): () => void {
  const listeners = ROUTES.map(([signal, command]) => {
    const listener = () => handler(command, signal);
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}

/** SIGUSR2/SIGWINCH: nginx starts or finishes a binary upgrade; Postern logs that it does not (docs/operations.md). */
export const refuseUpgrade = (logger: Logger, signal: NodeJS.Signals): void =>
  logger.warn(`${signalName(signal)} received, ignoring: Postern has no binary upgrade (restart it instead)`);
