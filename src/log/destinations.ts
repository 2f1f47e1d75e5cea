import { closeSync, openSync } from 'node:fs';
import dgram from 'node:dgram';
import { hostname } from 'node:os';
import { createRequire } from 'node:module';
import type { SyslogTarget } from '../config/types.js';
import { errnoText } from '../process/errno.js';
import { levelNumber, type Level } from './levels.js';
import { syslogTime } from './line.js';

/** Where formatted lines go: a file, stderr or a syslog server. */
export interface Destination {
  write(text: string, level: Level): void;
}

/**
 * sonic-boom, the file stream pino writes with, used directly: pino itself (~7 MB of resident
 * memory once loaded) is only needed for `postern_log_format json`. Loaded with require(): an
 * `import` would run Node's CommonJS export lexer over it (src/xstate.ts).
 */
const { SonicBoom } = createRequire(import.meta.url)('sonic-boom') as typeof import('sonic-boom');
type FileStream = InstanceType<typeof SonicBoom>;

interface OpenFile {
  stream: FileStream;
  opened: Promise<void>;
}

/** Every log file this process writes, by path: loggers naming one file share one descriptor. */
const files = new Map<string, OpenFile>();
let stderr: FileStream | undefined;

/** stderr, written synchronously (it may be a terminal or a pipe the parent reads). */
export function stderrDestination(): Destination {
  const stream = (stderr ??= stderrStream());
  return { write: (text) => void stream.write(text) };
}

/** fd 2 as pino.destination made it: a reader gone (EPIPE) ends the writing, not the process. */
function stderrStream(): FileStream {
  const stream = new SonicBoom({ fd: 2, sync: true });
  const brokenPipe = (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') {
      stream.write = () => true;
      return;
    }
    stream.removeListener('error', brokenPipe);
    stream.emit('error', error);
  };
  stream.on('error', brokenPipe);
  return stream;
}

/**
 * A log file (sonic-boom), created with its directory. Each line is written at once, as
 * nginx writes its lines: a reader (a test, fail2ban) that saw the reply finds the line there.
 */
export function fileDestination(path: string): Destination {
  let file = files.get(path);
  if (file === undefined) {
    const stream = new SonicBoom({ dest: path, mkdir: true, sync: true, append: true });
    const opened = new Promise<void>((settle) => stream.once('ready', settle).once('error', () => settle()));
    // A file that cannot be written must never end the process.
    stream.on('error', () => undefined);
    file = { stream, opened };
    files.set(path, file);
  }
  const { stream } = file;
  return { write: (text) => void stream.write(text) };
}

/** Resolves once every log file is open (or failed to open): a worker waits before it switches user. */
export async function logFilesOpen(): Promise<void> {
  await Promise.all([...files.values()].map((file) => file.opened));
}

/** The paths of this process's log files. */
export const logFilePaths = (): string[] => [...files.keys()];

/**
 * nginx's reopen (SIGUSR1, after logrotate renamed the files): every log file is opened again
 * by name, created if it was moved away. One that cannot be opened keeps being written where it
 * was; the failure is returned in nginx's words (`open() "FILE" failed (13: Permission denied)`).
 */
export function reopenLogFiles(): string[] {
  const failures: string[] = [];
  for (const [path, { stream }] of files) {
    try {
      closeSync(openSync(path, 'a'));
    } catch (error) {
      failures.push(`open() "${path}" failed ${errnoText(error as NodeJS.ErrnoException)}`);
      continue;
    }
    stream.reopen();
  }
  return failures;
}

/** Flushes what the files hold (at exit). */
export function flushLogFiles(): void {
  for (const { stream } of files.values()) {
    try {
      stream.flushSync();
    } catch {
      // Not open yet, or gone: nothing to flush.
    }
  }
}

/**
 * `error_log syslog:server=...` as ngx_syslog_writer sends it: one UDP datagram per line,
 * `<PRI>Mmm dd HH:MM:SS HOSTNAME TAG: ` then the whole error_log line without its linefeed;
 * PRI is facility * 8 + the line's level (nginx ignores `severity=` for error_log). A datagram
 * that cannot be sent is dropped, as nginx drops it. The line is at most 2047 bytes, so the
 * datagram always fits nginx's NGX_SYSLOG_MAX_STR whole.
 */
export function syslogDestination(target: SyslogTarget): Destination {
  let socket: dgram.Socket | undefined;
  const host = hostname();
  const open = (): dgram.Socket => {
    const made = dgram.createSocket(target.host.includes(':') ? 'udp6' : 'udp4');
    made.on('error', () => undefined);
    made.unref();
    return made;
  };
  return {
    write(text, level) {
      const pri = target.facility * 8 + levelNumber(level) - 1;
      const head = target.nohostname ? `<${pri}>${syslogTime()} ${target.tag}: ` : `<${pri}>${syslogTime()} ${host} ${target.tag}: `;
      const datagram = Buffer.from(head + text.slice(0, -1));
      (socket ??= open()).send(datagram, target.port, target.host);
    },
  };
}
