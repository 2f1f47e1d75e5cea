/**
 * error_log as nginx writes it (issue 14): the eight operator sessions through nginx 1.22.1 and
 * through Postern, both reading one nginx.conf with `error_log FILE info;`. The lines each
 * session adds must be equal after normalising time, pid, ports and connection numbers; the
 * numbers are compared as offsets from the first session's, so every number a session takes
 * (the client, each auth_http request, the upstream connection) must match nginx's count too.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_LOG_LINE, firstConnectionNumber, generateCert, normalizeErrorLog, startSide, type LogSide } from './error-log/setup.js';
import { freePort, requireBinaries, run, sleep, type CertFiles } from './harness/index.js';
import { MORE_SESSIONS, playSession, SESSIONS } from './error-log/sessions.js';

requireBinaries(['nginx', 'dovecot', 'openssl', 'python3', 'fail2ban-regex']);

/** The fail2ban filter docs/operations.md gives for both nginx and Postern. */
const FAIL2BAN_FILTER = fileURLToPath(new URL('../../docs/examples/fail2ban/filter.d/mail-auth.conf', import.meta.url));

/** Waits until a side's log stops growing (both write a session's last line after the client left). */
async function settled(side: LogSide): Promise<string> {
  let last = side.errorLog();
  for (let i = 0; i < 40; i++) {
    await sleep(50);
    const now = side.errorLog();
    if (now === last && i >= 3) return now;
    last = now;
  }
  return last;
}

describe('error_log: nginx 1.22.1 and Postern with one nginx.conf', () => {
  let cert: CertFiles;
  const sides: LogSide[] = [];
  /** Per side: the first session's connection number. */
  const bases = new Map<LogSide, number>();

  beforeAll(async () => {
    cert = await generateCert();
    const deadPort = await freePort();
    sides.push(await startSide('nginx', cert, deadPort), await startSide('postern', cert, deadPort));
  }, 60_000);

  afterAll(async () => {
    for (const side of sides) await side.close();
  });

  for (const session of [...SESSIONS, ...MORE_SESSIONS]) {
    it(session.name, async () => {
      const lines: string[][] = [];
      for (const side of sides) {
        const before = (await settled(side)).length;
        await playSession(session, side.ports[session.server]);
        const added = (await settled(side)).slice(before);
        if (!bases.has(side)) bases.set(side, firstConnectionNumber(added) ?? 0);
        lines.push(normalizeErrorLog(added, side.portNames, bases.get(side)!));
      }
      expect(lines[0]!.length).toBeGreaterThan(0);
      expect(lines[1]).toEqual(lines[0]);
    }, 30_000);
  }

  it('the fail2ban filter of docs/operations.md finds every failed login in both logs, and nothing else', async () => {
    for (const side of sides) {
      const log = path.join(side.prefix, 'fail2ban-input.log');
      const text = await settled(side);
      writeFileSync(log, text);
      const result = await run('/usr/bin/fail2ban-regex', [log, FAIL2BAN_FILTER], { timeoutMs: 30_000 });
      const matched = /Lines: \d+ lines, \d+ ignored, (\d+) matched/.exec(result.stdout)?.[1];
      const failures = text.split('\n').filter((line) => line.includes('client login failed')).length;
      // The wrong passwords (IMAP, twice) and the wrong AUTH (SMTP, tried with two mechanisms).
      expect(failures).toBe(4);
      expect([side.name, Number(matched)]).toEqual([side.name, failures]);
    }
  });

  it('every line of Postern\'s error_log has nginx\'s shape, and connection numbers only grow', async () => {
    const text = await settled(sides[1]!);
    const all = text.split('\n').filter((line) => line !== '');
    expect(all.filter((line) => !ERROR_LOG_LINE.test(line))).toEqual([]);
    const numbers = all.flatMap((line) => / \*(\d+) /.exec(line)?.[1] ?? []).map(Number);
    expect(numbers.length).toBeGreaterThan(SESSIONS.length);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  });
});
