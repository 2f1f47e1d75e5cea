import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const UNCAUGHT = resolve('src/process/uncaught.ts');

/** Runs a script in a fresh Node (tsx) and returns its exit status and output. */
function runScript(body: string) {
  // Under the project's node_modules, so that the script resolves pino as the project does.
  const cache = resolve('node_modules/.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'postern-uncaught-'));
  const file = join(dir, 'script.ts');
  writeFileSync(
    file,
    `import { pino } from 'pino';
import { keepServingOnUncaught } from ${JSON.stringify(UNCAUGHT)};
const logger = pino({ level: 'info' }, pino.destination({ dest: 1, sync: true }));
${body}`,
  );
  try {
    return spawnSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8', timeout: 20_000, cwd: process.cwd() });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('keepServingOnUncaught: the last line of containment', () => {
  const faults = `
setTimeout(() => { throw new Error('thrown from a timer'); }, 1);
setTimeout(() => void Promise.reject(new Error('rejected, never handled')), 2);
setTimeout(() => { console.log('still serving'); }, 50);`;

  it('logs a thrown exception and an unhandled rejection at alert (pino fatal) and the process goes on', () => {
    const run = runScript(`keepServingOnUncaught(logger);${faults}`);
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('still serving');
    const logged = lines.slice(0, -1).map((l) => JSON.parse(l) as { level: number; msg: string; err: string });
    expect(logged.map((l) => [l.level, l.msg])).toEqual([
      [60, 'uncaught exception, the process keeps serving'],
      [60, 'unhandled rejection, the process keeps serving'],
    ]);
    expect(logged[0]!.err).toContain('thrown from a timer');
    expect(logged[1]!.err).toContain('rejected, never handled');
  });

  it('without it the same fault ends the process (what the handler prevents)', () => {
    const run = runScript(faults);
    expect(run.status).not.toBe(0);
    expect(run.stdout).not.toContain('still serving');
  });
});
