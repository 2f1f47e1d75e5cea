import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createLogger, reopenLogFiles } from '../../../src/log.js';
import { ConnectionLog } from '../../../src/log/connection.js';
import { contextSuffix, type ConnectionContext } from '../../../src/log/context.js';
import { syslogDestination } from '../../../src/log/destinations.js';
import { passes, LEVELS } from '../../../src/log/levels.js';
import { errorLogLine, errorLogTime, syslogTime } from '../../../src/log/line.js';
import { ErrorLog, jsonSink, textSink, toErrorLog } from '../../../src/log/logger.js';

const captured = () => {
  const lines: string[] = [];
  return { lines, destination: { write: (text: string) => void lines.push(text) } };
};

const context = (over: Partial<ConnectionContext> = {}): ConnectionContext => ({
  number: 7,
  client: '192.0.2.1',
  server: '127.0.0.1:143',
  starttls: false,
  login: undefined,
  upstream: undefined,
  action: undefined,
  ...over,
});

const dir = mkdtempSync(path.join(tmpdir(), 'postern-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('nginx\'s error_log line', () => {
  it('YYYY/MM/DD HH:MM:SS [level] PID#TID: *N message, in local time', () => {
    const at = new Date(2026, 11, 7, 2, 4, 5).getTime();
    expect(errorLogTime(at)).toBe('2026/12/07 02:04:05');
    expect(errorLogLine('info', 3, 'client logged in', at)).toBe(`2026/12/07 02:04:05 [info] ${process.pid}#${process.pid}: *3 client logged in\n`);
    expect(errorLogLine('emerg', undefined, 'x', at)).toBe(`2026/12/07 02:04:05 [emerg] ${process.pid}#${process.pid}: x\n`);
  });

  it('is cut at nginx\'s 2048 bytes, linefeed included', () => {
    const line = errorLogLine('error', 1, 'x'.repeat(5000));
    expect(line.length).toBe(2048);
    expect(line.endsWith('x\n')).toBe(true);
  });

  it('syslog time: Mmm dd HH:MM:SS, the day padded with a space', () => {
    expect(syslogTime(new Date(2026, 11, 7, 2, 4, 5).getTime())).toBe('Dec  7 02:04:05');
    expect(syslogTime(new Date(2026, 0, 17, 23, 59, 0).getTime())).toBe('Jan 17 23:59:00');
  });

  it('the mail context suffix, as ngx_mail_log_error builds it', () => {
    expect(contextSuffix(context({ server: undefined }))).toBe(', client: 192.0.2.1');
    expect(contextSuffix(context())).toBe(', client: 192.0.2.1, server: 127.0.0.1:143');
    expect(contextSuffix(context({ action: 'in auth state', starttls: true }))).toBe(' while in auth state, client: 192.0.2.1 using starttls, server: 127.0.0.1:143');
    // No login yet: no upstream either (nginx stops at the first missing part).
    expect(contextSuffix(context({ upstream: '10.0.0.1:143' }))).toBe(', client: 192.0.2.1, server: 127.0.0.1:143');
    expect(contextSuffix(context({ login: 'alice' }))).toBe(', client: 192.0.2.1, server: 127.0.0.1:143, login: "alice"');
    expect(contextSuffix(context({ login: 'alice', upstream: '10.0.0.1:143' }))).toBe(', client: 192.0.2.1, server: 127.0.0.1:143, login: "alice", upstream: 10.0.0.1:143');
  });
});

describe('levels and several error_logs', () => {
  it('nginx\'s eight levels, most severe first; a log takes its level and the more severe ones', () => {
    expect(LEVELS).toEqual(['emerg', 'alert', 'crit', 'error', 'warn', 'notice', 'info', 'debug']);
    expect(passes('error', 'info')).toBe(true);
    expect(passes('info', 'info')).toBe(true);
    expect(passes('debug', 'info')).toBe(false);
    expect(passes('notice', 'warn')).toBe(false);
  });

  it('each error_log of a context gets the lines at or above its own level', () => {
    const info = captured();
    const error = captured();
    const log = new ErrorLog([textSink('info', info.destination), textSink('error', error.destination)]);
    log.debug('not at all');
    log.info('to info');
    log.notice('to info too');
    log.error({ listen: '127.0.0.1:143' }, 'to both');
    log.fatal('an alert');
    expect(info.lines.map((l) => l.replace(/^.*?: /, ''))).toEqual(['to info\n', 'to info too\n', 'to both, listen: 127.0.0.1:143\n', 'an alert\n']);
    expect(error.lines.map((l) => /\[(\w+)\]/.exec(l)![1])).toEqual(['error', 'alert']);
    expect(log.enabled('info')).toBe(true);
    expect(log.enabled('debug')).toBe(false);
  });

  it('a connection\'s lines carry its number and context; the "connected to" line none but the number', () => {
    const out = captured();
    const log = new ConnectionLog(new ErrorLog([textSink('info', out.destination)]), '192.0.2.1', '127.0.0.1:143');
    log.connected(() => '192.0.2.1:50000');
    log.context.login = 'alice';
    log.context.action = 'in http auth state';
    log.write('info', 'client login failed: "Invalid login or password"');
    const n = log.context.number;
    expect(out.lines.map((l) => l.replace(/^.*?#\d+: /, ''))).toEqual([
      `*${n} client 192.0.2.1:50000 connected to 127.0.0.1:143\n`,
      `*${n} client login failed: "Invalid login or password" while in http auth state, client: 192.0.2.1, server: 127.0.0.1:143, login: "alice"\n`,
    ]);
    // Numbers only grow.
    expect(new ConnectionLog(new ErrorLog([]), '192.0.2.2').context.number).toBeGreaterThan(n);
  });

  it('a connection below every level builds nothing', () => {
    const out = captured();
    const address = vi.fn(() => '192.0.2.1:50000');
    const log = new ConnectionLog(new ErrorLog([textSink('error', out.destination)]), '192.0.2.1', '127.0.0.1:143');
    log.connected(address);
    log.info('client logged in');
    expect(out.lines).toEqual([]);
    // Not even the client's address and port were asked for.
    expect(address).not.toHaveBeenCalled();
  });
});

describe('postern_log_format json', () => {
  it('pino lines with the same facts as fields', () => {
    const out = captured();
    const log = new ConnectionLog(new ErrorLog([jsonSink('info', out.destination)]), '192.0.2.1', '127.0.0.1:143');
    Object.assign(log.context, { login: 'alice', upstream: '10.0.0.1:143', starttls: true });
    log.write('info', 'client logged in');
    const line = JSON.parse(out.lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 30,
      severity: 'info',
      pid: process.pid,
      connection: log.context.number,
      client: '192.0.2.1',
      server: '127.0.0.1:143',
      starttls: true,
      login: 'alice',
      upstream: '10.0.0.1:143',
      msg: 'client logged in',
    });
    expect(typeof line.time).toBe('string');
  });

  it('a pino logger given by a caller is wrapped: nginx\'s levels mapped, its own level obeyed', () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) });
    const log = toErrorLog(pino({ level: 'warn' }, sink));
    log.info('dropped');
    log.write('crit', 'kept');
    expect(log.enabled('info')).toBe(false);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([[60, 'kept']]);
  });
});

describe('syslog', () => {
  it('one datagram per line: <facility*8+level>Mmm dd HH:MM:SS HOST TAG: the whole line', async () => {
    const socket = dgram.createSocket('udp4');
    const got: string[] = [];
    socket.on('message', (m) => got.push(m.toString()));
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const port = socket.address().port;
    const log = new ErrorLog([
      textSink('info', syslogDestination({ host: '127.0.0.1', port, facility: 2, tag: 'mx', nohostname: false })),
      textSink('error', syslogDestination({ host: '127.0.0.1', port, facility: 23, tag: 'nginx', nohostname: true })),
    ]);
    log.info('one');
    log.error('two');
    await expect.poll(() => got.length).toBe(3);
    socket.close();
    const stamp = '[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d';
    const line = (level: string, text: string) => `\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d \\[${level}\\] ${process.pid}#${process.pid}: ${text}`;
    expect(got.sort()).toEqual([
      expect.stringMatching(new RegExp(`^<187>${stamp} nginx: ${line('error', 'two')}$`)),
      expect.stringMatching(new RegExp(`^<19>${stamp} ${hostname()} mx: ${line('error', 'two')}$`)),
      expect.stringMatching(new RegExp(`^<22>${stamp} ${hostname()} mx: ${line('info', 'one')}$`)),
    ]);
  });
});

describe('files and reopen', () => {
  it('loggers naming one file share it; USR1\'s reopen makes a renamed file again', async () => {
    const file = path.join(dir, 'logs', 'mail.log');
    const a = createLogger([{ target: file, level: 'info' }]);
    const b = createLogger([{ target: file, level: 'warn' }]);
    a.info('first');
    b.warn('second');
    await expect.poll(() => readFileSync(file, 'utf8').split('\n').length).toBe(3);
    renameSync(file, `${file}.1`);
    reopenLogFiles(a);
    a.info('third');
    await expect.poll(() => { try { return readFileSync(file, 'utf8'); } catch { return ''; } }).toMatch(/\[info\] \d+#\d+: third\n$/);
    expect(readFileSync(`${file}.1`, 'utf8')).toMatch(/first\n.*second\n$/s);
  });
});
