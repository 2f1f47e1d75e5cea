/**
 * error_log targets and levels beside nginx 1.22.1 (issue 14), after nginx-tests' own
 * mail_error_log.t: several error_log directives at the top level (two files and syslog), a
 * server with four of its own (debug file, info file, syslog, stderr), a server with one syslog
 * at `error`, and a server with none (its sessions go to the top-level logs). The same sessions
 * run through nginx and Postern; every target must get the same session lines on both sides.
 */
import dgram from 'node:dgram';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultServers, generateCert, normalizeErrorLog, readLog, startSide, type LogSide } from './error-log/setup.js';
import { playSession, session as makeSession, SESSIONS, type Session } from './error-log/sessions.js';
import { freePort, requireBinaries, sleep, type CertFiles } from './harness/index.js';

requireBinaries(['nginx', 'dovecot', 'openssl', 'python3']);

/** A UDP syslog listener: the datagrams it received, as text. */
async function syslogListener(): Promise<{ port: number; datagrams: string[]; close(): void }> {
  const socket = dgram.createSocket('udp4');
  const datagrams: string[] = [];
  socket.on('message', (message) => datagrams.push(message.toString('latin1')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, datagrams, close: () => socket.close() };
}

interface Targets {
  side: LogSide;
  /** Top-level syslog (info), the imap server's syslog (info), the imaps server's syslog (error). */
  global: Awaited<ReturnType<typeof syslogListener>>;
  server: Awaited<ReturnType<typeof syslogListener>>;
  errors: Awaited<ReturnType<typeof syslogListener>>;
  file(name: string): string;
}

const session = (name: string): Session => SESSIONS.find((s) => s.name === name)!;

const IMAPS_REFUSED = makeSession('IMAPS, backend refusing the connection', 'imaps', `
m = imaplib.IMAP4_SSL('127.0.0.1', port, ssl_context=ctx)
try:
    m.login('nobackend', 'secret')
    raise SystemExit('logged in')
except imaplib.IMAP4.error:
    pass`);

/** RFC 3164 as nginx sends it: `<PRI>Mmm dd HH:MM:SS HOST TAG: LINE`; PRI and the line are kept. */
const SYSLOG = /^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S*) nginx: (.*)$/;

function syslogLines(datagrams: string[]): { pri: string[]; text: string } {
  const pri: string[] = [];
  const lines: string[] = [];
  for (const datagram of datagrams) {
    const match = SYSLOG.exec(datagram);
    if (match === null) throw new Error(`not nginx's syslog message: ${JSON.stringify(datagram)}`);
    // nginx's lines before its cycle knows the host name have none: only sessions' are checked.
    if (/ \*\d+ /.test(match[3]!)) expect(match[2]).toBe(hostname());
    pri.push(match[1]!);
    lines.push(match[3]!);
  }
  return { pri, text: lines.join('\n') };
}

describe('error_log targets and levels: nginx 1.22.1 and Postern', () => {
  let cert: CertFiles;
  const sides: Targets[] = [];

  beforeAll(async () => {
    cert = await generateCert();
    const deadPort = await freePort();
    for (const name of ['nginx', 'postern'] as const) {
      const [global, server, errors] = [await syslogListener(), await syslogListener(), await syslogListener()];
      const side = await startSide(name, cert, deadPort, {
        main: (prefix) => `error_log ${prefix}/e_glob.log info;\nerror_log ${prefix}/e_glob2.log info;\nerror_log syslog:server=127.0.0.1:${global.port} info;`,
        servers: (ports, prefix) =>
          defaultServers(ports)
            .replace(
              `listen 127.0.0.1:${ports.imap}; protocol imap;`,
              `listen 127.0.0.1:${ports.imap}; protocol imap; error_log ${prefix}/e_debug.log debug; error_log ${prefix}/e_info.log info; ` +
                `error_log syslog:server=127.0.0.1:${server.port} info; error_log stderr info;`,
            )
            .replace(`listen 127.0.0.1:${ports.imaps} ssl; protocol imap;`, `listen 127.0.0.1:${ports.imaps} ssl; protocol imap; error_log syslog:server=127.0.0.1:${errors.port} error;`),
      });
      sides.push({ side, global, server, errors, file: (file) => readLog(path.join(side.prefix, file)) });
    }
    for (const { side } of sides) {
      await playSession(session('IMAP login and logout'), side.ports.imap);
      await playSession(session('backend refusing the connection'), side.ports.imap);
      await playSession(session('IMAPS login'), side.ports.imaps);
      await playSession(IMAPS_REFUSED, side.ports.imaps);
      await playSession(session('POP3 STLS login'), side.ports.pop3Starttls);
    }
    // The last lines of each side are written after its client left.
    await sleep(500);
  }, 120_000);

  afterAll(async () => {
    for (const { side, global, server, errors } of sides) {
      await side.close();
      for (const listener of [global, server, errors]) listener.close();
    }
  });

  /** A side's session lines in `text`, normalised, connection numbers from the side's first. */
  const sessionLines = (t: Targets, text: string): string[] => {
    const first = / \*(\d+) /.exec(t.file('e_info.log'));
    return normalizeErrorLog(text, t.side.portNames, Number(first?.[1] ?? 0));
  };
  const both = (get: (t: Targets) => string[]): [string[], string[]] => [get(sides[0]!), get(sides[1]!)];

  it('the server\'s info file gets its sessions, as nginx\'s', () => {
    const [nginx, postern] = both((t) => sessionLines(t, t.file('e_info.log')));
    expect(nginx.length).toBeGreaterThanOrEqual(5);
    expect(postern).toEqual(nginx);
    expect(nginx.some((line) => line.includes('[error]'))).toBe(true);
    expect(nginx.every((line) => line.includes('<imap>'))).toBe(true);
  });

  it('the server\'s debug file gets the same lines at info and above (its debug lines are each program\'s own)', () => {
    const [nginx, postern] = both((t) => sessionLines(t, t.file('e_debug.log')).filter((line) => !line.includes('[debug]')));
    expect(postern).toEqual(nginx);
    expect(postern).toEqual(sessionLines(sides[1]!, sides[1]!.file('e_info.log')));
  });

  it('stderr gets the server\'s sessions', () => {
    const [nginx, postern] = both((t) => sessionLines(t, t.side.output()));
    expect(postern).toEqual(nginx);
    expect(postern).toEqual(sessionLines(sides[1]!, sides[1]!.file('e_info.log')));
  });

  it('syslog at info gets the server\'s sessions, PRI = local7 * 8 + the line\'s level', () => {
    const [nginx, postern] = both((t) => {
      const { pri, text } = syslogLines(t.server.datagrams.filter((d) => / \*\d+ /.test(d)));
      const lines = sessionLines(t, text);
      // local7 (23): info 190, error 187.
      expect(pri).toEqual(lines.map((line) => (line.includes('[error]') ? '187' : '190')));
      return lines;
    });
    expect(postern).toEqual(nginx);
  });

  it('syslog at error gets the other server\'s error lines only', () => {
    const [nginx, postern] = both((t) => sessionLines(t, syslogLines(t.errors.datagrams).text));
    expect(nginx).toHaveLength(1);
    expect(nginx[0]).toMatch(/\[error\] .*recv\(\) failed \(111: Connection refused\)/);
    expect(postern).toEqual(nginx);
  });

  it('a server without error_log logs to every top-level one (two files, syslog); servers with their own do not', () => {
    for (const get of [(t: Targets) => t.file('e_glob.log'), (t: Targets) => t.file('e_glob2.log'), (t: Targets) => syslogLines(t.global.datagrams).text, (t: Targets) => t.side.errorLog()]) {
      const [nginx, postern] = both((t) => sessionLines(t, get(t)));
      expect(nginx.length).toBeGreaterThanOrEqual(3);
      expect(nginx.every((line) => line.includes('<pop3Starttls>'))).toBe(true);
      expect(postern).toEqual(nginx);
    }
  });
});
