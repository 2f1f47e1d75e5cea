import { constants } from 'node:os';
import { PidFileError, readPidFile } from './pid-file.js';
import { errnoText } from './errno.js';

/** What `postern -s` can ask of a running Postern, and the signal that carries it (nginx's). */
export const CONTROL_SIGNALS = {
  stop: 'SIGTERM',
  quit: 'SIGQUIT',
  reload: 'SIGHUP',
} as const satisfies Record<string, NodeJS.Signals>;

export type ControlCommand = keyof typeof CONTROL_SIGNALS;

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

/**
 * Routes the control signals of a running Postern: SIGHUP reloads, SIGTERM and SIGINT stop at
 * once, SIGQUIT stops gracefully. Returns a function that removes the handlers.
 */
export function onControlSignals(handler: (command: ControlCommand, signal: NodeJS.Signals) => void): () => void {
  const routes: Array<[NodeJS.Signals, ControlCommand]> = [
    ['SIGHUP', 'reload'],
    ['SIGTERM', 'stop'],
    ['SIGINT', 'stop'],
    ['SIGQUIT', 'quit'],
  ];
  const listeners = routes.map(([signal, command]) => {
    const listener = () => handler(command, signal);
    process.on(signal, listener);
    return [signal, listener] as const;
  });
  return () => {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  };
}
