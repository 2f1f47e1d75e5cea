/**
 * `postern -s stop|quit|reload` against real processes, and its errors beside nginx's own
 * (`nginx -s` run on a configuration naming the same kind of pid file).
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts, makeTempDir, NGINX_BIN, removeDir, requireBinaries, run } from '../e2e/harness/index.js';
import { LineClient } from '../integration/fixtures.js';
import { expectLine, posternCommand, relayedPop3, startBackends, startPostern, stillRelays, until, writeConfig, type Backends } from './helpers.js';

describe('postern -s', () => {
  let dir: string;
  let backends: Backends;

  beforeAll(async () => {
    dir = await makeTempDir('signals');
    backends = await startBackends();
  });
  afterAll(async () => {
    await backends?.close();
    if (dir) await removeDir(dir);
  });

  const configFor = async (name: string) => {
    const [port] = await freePorts(1);
    const pidFile = path.join(dir, `${name}.pid`);
    const conf = path.join(dir, `${name}.conf`);
    writeConfig(conf, `pid ${pidFile};\nmail {\n  auth_http 127.0.0.1:${backends.auth.port}/auth;\n  server { listen 127.0.0.1:${port}; protocol pop3; }\n}\n`);
    return { port: port!, pidFile, conf };
  };

  /** `nginx -s COMMAND` with a configuration whose pid file is `pidFile`. */
  const nginxSignal = async (command: string, pidFile: string) => {
    requireBinaries(['nginx']);
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, `pid ${pidFile};\nevents {}\n`);
    const r = await run(NGINX_BIN, ['-p', `${dir}/`, '-c', conf, '-e', path.join(dir, 'nginx-error.log'), '-s', command]);
    return { code: r.code, stderr: r.stderr.replace(/^nginx: /gm, '') };
  };

  it('words a missing pid file, a bad one, a dead process and a bad signal name as nginx does', async () => {
    const { conf, pidFile } = await configFor('absent');
    const cases: Array<[string, () => void]> = [
      ['reload', () => undefined],
      ['quit', () => writeFileSync(pidFile, 'abc\n')],
      ['stop', () => writeFileSync(pidFile, '99999999\n')],
      ['reopen', () => undefined],
      ['restart', () => undefined],
    ];
    for (const [command, prepare] of cases) {
      prepare();
      const ours = await posternCommand(['-s', command, '-c', conf]);
      const theirs = await nginxSignal(command, pidFile);
      expect(ours.code).toBe(theirs.code);
      expect(ours.stderr.replace(/^postern: /gm, '')).toBe(theirs.stderr);
    }
  });

  it('stop closes every session at once, removes the pid file and exits 0', async () => {
    const { port, pidFile, conf } = await configFor('stop');
    const postern = await startPostern(conf, pidFile);
    const relayed = await relayedPop3(port);
    const signalled = await posternCommand(['-s', 'stop', '-c', conf]);
    expect(signalled.code, signalled.stderr).toBe(0);
    expect(await postern.daemon.exited).toEqual({ code: 0, signal: null });
    expect(await relayed.line()).toBeNull();
    expect(existsSync(pidFile)).toBe(false);
    expect(postern.logs().map((l) => l.msg)).toContain('signal 15 (SIGTERM) received, exiting');
  });

  it('quit stops accepting, lets a live session finish, then exits 0', async () => {
    const { port, pidFile, conf } = await configFor('quit');
    const postern = await startPostern(conf, pidFile);
    const relayed = await relayedPop3(port);
    const mark = postern.logs().length;
    const signalled = await posternCommand(['-s', 'quit', '-c', conf]);
    expect(signalled.code, signalled.stderr).toBe(0);
    await postern.waitForLog(/shutting down gracefully/, mark);
    await until('the listener to close', async () => LineClient.connect(port).then((c) => (c.close(), false), (e: Error) => /ECONNREFUSED/.test(e.message)));
    expect(postern.daemon.alive()).toBe(true);
    expect(await stillRelays(relayed)).toMatch(/^-ERR unknown command STAT/);
    relayed.send('QUIT\r\n');
    await expectLine(relayed, /^\+OK quit ok/);
    expect(await postern.daemon.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(pidFile)).toBe(false);
  });
});
