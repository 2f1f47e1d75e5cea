/**
 * The main-context directives that run the processes (`user`, `worker_rlimit_nofile`,
 * `worker_shutdown_timeout`) and the `events { }` block: their values, and their errors beside
 * `nginx -t` on the same file (first error equal, at the same FILE:LINE).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../../src/config/index.js';
import { runsAsRoot } from '../../../src/config/accounts.js';
import { requireBinaries } from '../../e2e/harness/require.js';
import { at, type Case } from './error-cases.js';
import { FILE, parse, parseError } from './helpers.js';

const M = 'mail { auth_http 127.0.0.1:9000; server { listen 127.0.0.1:18110; protocol pop3; } }';
const root = runsAsRoot();

describe('values', () => {
  it('worker_rlimit_nofile, worker_shutdown_timeout (nginx time syntax) and worker_connections', () => {
    const config = parse(`worker_rlimit_nofile 4096;\nworker_shutdown_timeout "1m 30s";\nevents {\n worker_connections 64;\n}\n${M}`);
    expect(config).toMatchObject({ workerRlimitNofile: 4096, workerShutdownTimeoutMs: 90_000, workerConnections: 64 });
    expect(config.notices).toEqual([]);
  });

  it('defaults: 512 connections, no limit, no timeout; events { } is optional (nginx requires it)', () => {
    const config = parse(M);
    expect(config.workerConnections).toBe(512);
    expect(config.workerRlimitNofile).toBeUndefined();
    expect(config.workerShutdownTimeoutMs).toBeUndefined();
  });

  it('the other events directives are checked, then skipped with one notice', () => {
    const config = parse(`events { use epoll; multi_accept on; accept_mutex off; accept_mutex_delay 100ms; debug_connection 10.0.0.0/8; debug_connection ::1; epoll_events 64; worker_aio_requests 32; }\n${M}`);
    expect(config.notices).toEqual(['skipping events directives: use, multi_accept, accept_mutex, accept_mutex_delay, debug_connection, epoll_events, worker_aio_requests']);
    expect(config.workerConnections).toBe(512);
  });

  it('user: as root the workers\u2019 account, with the user\u2019s name as the default group; otherwise a warning', () => {
    const config = parse(`user nobody nogroup;\n${M}`);
    if (root) {
      expect(config.user).toEqual({ user: 'nobody', group: 'nogroup', uid: 65534, gid: 65534, where: { file: FILE, line: 1 } });
      expect(parse(`user www-data;\n${M}`).user).toMatchObject({ user: 'www-data', group: 'www-data', uid: 33, gid: 33 });
      // Without `user`, nginx's default: nobody, and group nobody where it exists, else nogroup (Debian).
      expect(parse(M).user).toEqual({ user: 'nobody', group: 'nogroup', uid: 65534, gid: 65534 });
      expect(config.warnings).toBeUndefined();
    } else {
      expect(config.user).toBeUndefined();
      expect(config.warnings).toEqual([`the "user" directive makes sense only if the master process runs with super-user privileges, ignored ${at(1)}`]);
    }
  });
});

/** `[name, text, message]`: one line each, written after `events { } ` (nginx needs the block). */
const mainCases: Case[] = [
  ['user with three words', `user a b c; ${M}`, `invalid number of arguments in "user" directive ${at(1)}`],
  ['user without a word', `user; ${M}`, `invalid number of arguments in "user" directive ${at(1)}`],
  ['user in mail', `mail { user nobody; }`, `"user" directive is not allowed here ${at(1)}`],
  ['worker_rlimit_nofile not a number', `worker_rlimit_nofile abc; ${M}`, `"worker_rlimit_nofile" directive invalid number ${at(1)}`],
  ['worker_rlimit_nofile negative', `worker_rlimit_nofile -1; ${M}`, `"worker_rlimit_nofile" directive invalid number ${at(1)}`],
  ['worker_rlimit_nofile twice', `worker_rlimit_nofile 1; worker_rlimit_nofile 2; ${M}`, `"worker_rlimit_nofile" directive is duplicate ${at(1)}`],
  ['worker_shutdown_timeout not a time', `worker_shutdown_timeout abc; ${M}`, `"worker_shutdown_timeout" directive invalid value ${at(1)}`],
  ['worker_shutdown_timeout in months', `worker_shutdown_timeout 1M; ${M}`, `"worker_shutdown_timeout" directive invalid value ${at(1)}`],
  ['worker_shutdown_timeout twice', `worker_shutdown_timeout 1s; worker_shutdown_timeout 1s; ${M}`, `"worker_shutdown_timeout" directive is duplicate ${at(1)}`],
  ['worker_connections at the top level', `worker_connections 5; ${M}`, `"worker_connections" directive is not allowed here ${at(1)}`],
  ['events twice (the header has one)', `events { } ${M}`, `"events" directive is duplicate ${at(1)}`],
];

/** As root nginx looks the accounts up while parsing; otherwise `user` is only a warning. */
const rootCases: Case[] = [
  ['unknown user', `user nosuchuser; ${M}`, `getpwnam("nosuchuser") failed ${at(1)}`],
  ['unknown group', `user nobody nosuchgroup; ${M}`, `getgrnam("nosuchgroup") failed ${at(1)}`],
  ['group defaults to the user name (Debian has no group nobody)', `user nobody; ${M}`, `getgrnam("nobody") failed ${at(1)}`],
  ['a number is no user name', `user 65534; ${M}`, `getpwnam("65534") failed ${at(1)}`],
  ['user twice', `user nobody nogroup; user nobody nogroup; ${M}`, `"user" directive is duplicate ${at(1)}`],
];

/** Written without the header's `events { }`. */
const eventsCases: Case[] = [
  ['events twice', `events { } events { } ${M}`, `"events" directive is duplicate ${at(1)}`],
  ['events with an argument', `events x { } ${M}`, `invalid number of arguments in "events" directive ${at(1)}`],
  ['events without a block', `events; ${M}`, `directive "events" has no opening "{" ${at(1)}`],
  ['worker_connections not a number', `events { worker_connections abc; } ${M}`, `invalid number "abc" ${at(1)}`],
  ['worker_connections twice', `events { worker_connections 10; worker_connections 20; } ${M}`, `"worker_connections" directive is duplicate ${at(1)}`],
  ['worker_connections without a value', `events { worker_connections; } ${M}`, `invalid number of arguments in "worker_connections" directive ${at(1)}`],
  ['worker_connections with a block', `events { worker_connections 10 { } } ${M}`, `directive "worker_connections" is not terminated by ";" ${at(1)}`],
  ['an unknown event method', `events { use kqueue; } ${M}`, `invalid event type "kqueue" ${at(1)}`],
  ['use twice', `events { use epoll; use epoll; } ${M}`, `"use" directive is duplicate ${at(1)}`],
  ['multi_accept not a flag', `events { multi_accept maybe; } ${M}`, `invalid value "maybe" in "multi_accept" directive, it must be "on" or "off" ${at(1)}`],
  ['accept_mutex twice', `events { accept_mutex on; accept_mutex on; } ${M}`, `"accept_mutex" directive is duplicate ${at(1)}`],
  ['accept_mutex_delay not a time', `events { accept_mutex_delay abc; } ${M}`, `"accept_mutex_delay" directive invalid value ${at(1)}`],
  ['worker_aio_requests not a number', `events { worker_aio_requests abc; } ${M}`, `"worker_aio_requests" directive invalid number ${at(1)}`],
  ['an unknown directive in events', `events { foo; } ${M}`, `unknown directive "foo" ${at(1)}`],
  ['a mail directive in events', `events { timeout 5s; } ${M}`, `"timeout" directive is not allowed here ${at(1)}`],
  ['events in events', `events { events { } } ${M}`, `"events" directive is not allowed here ${at(1)}`],
  ['events in mail', `events { } mail { events { } }`, `"events" directive is not allowed here ${at(1)}`],
  // nginx's ngx_event_init_conf: one connection per listening socket, plus one; no FILE:LINE.
  ['too few connections for one socket', `events { worker_connections 1; } ${M}`, '1 worker_connections are not enough for 1 listening sockets'],
  [
    'addresses on a wildcard\u2019s port share its socket',
    'events { worker_connections 3; } mail { auth_http 127.0.0.1:9000; server { listen 127.0.0.1:18110; listen 18110; listen 18111; listen [::1]:18112; protocol pop3; } }',
    '3 worker_connections are not enough for 3 listening sockets',
  ],
  [
    'bind gives an address its own socket',
    'events { worker_connections 2; } mail { auth_http 127.0.0.1:9000; server { listen 127.0.0.1:18110 bind; listen 18110; protocol pop3; } }',
    '2 worker_connections are not enough for 2 listening sockets',
  ],
];

describe('errors, worded as nginx -t words them', () => {
  it.each(mainCases)('%s', (_name, text, message) => {
    expect(parseError(`events { } ${text}`)).toBe(message);
  });

  it.each(eventsCases)('%s', (_name, text, message) => {
    expect(parseError(text)).toBe(message);
  });

  it.each(rootCases)('%s (when root; otherwise a warning)', (_name, text, message) => {
    if (root) expect(parseError(`events { } ${text}`)).toBe(message);
    else expect(parse(text).warnings?.[0]).toMatch(/^the "user" directive makes sense only if/);
  });

  it('enough connections: no error', () => {
    expect(parse(`events { worker_connections 2; } ${M}`).workerConnections).toBe(2);
    expect(parse('events { worker_connections 1; } mail { auth_http 127.0.0.1:9000; }').workerConnections).toBe(1);
  });
});

describe('beside nginx -t (nginx 1.22.1)', () => {
  const { nginx } = requireBinaries(['nginx']);
  const MODULE = '/usr/lib/nginx/modules/ngx_mail_module.so';
  const dir = mkdtempSync(join(tmpdir(), 'postern-main-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let counter = 0;

  /** The first `[emerg]` of each on the same file (nginx needs its module, a pid file and a log it may write). */
  function firstErrors(text: string, withEvents: boolean): { nginx: string | null; postern: string | null } {
    const file = join(dir, `case-${counter++}.conf`);
    writeFileSync(file, `load_module ${MODULE}; pid ${dir}/nginx.pid; error_log ${dir}/error.log; ${withEvents ? 'events { } ' : ''}${text}`);
    const run = spawnSync(nginx!, ['-t', '-q', '-p', dir, '-e', `${dir}/error.log`, '-c', file], { encoding: 'utf8' });
    const emerg = run.stderr.split('\n').find((l) => l.startsWith('nginx: [emerg] '));
    let postern: string | null = null;
    try {
      loadConfigFile(file);
    } catch (error) {
      postern = (error as Error).message;
    }
    return { nginx: emerg === undefined ? null : emerg.slice('nginx: [emerg] '.length), postern };
  }

  it.each([...mainCases, ...rootCases])('%s', (_name, text) => {
    const { nginx: theirs, postern: ours } = firstErrors(text, true);
    expect(ours).toBe(theirs);
  });

  it.each(eventsCases)('%s', (_name, text) => {
    const { nginx: theirs, postern: ours } = firstErrors(text, false);
    expect(ours).toBe(theirs);
  });

  it('both accept every directive with good values', () => {
    const text = `user nobody nogroup; worker_rlimit_nofile 1024; worker_shutdown_timeout 10s; events { worker_connections 64; use epoll; multi_accept on; accept_mutex off; accept_mutex_delay 100ms; debug_connection 127.0.0.1; epoll_events 32; worker_aio_requests 32; } ${M}`;
    expect(firstErrors(text, false)).toEqual({ nginx: null, postern: null });
  });
});
