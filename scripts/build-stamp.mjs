// Whether dist/ is current: `npm run build` writes dist/.build-stamp after a successful tsc;
// `npm start` (prestart) rebuilds only when a source of the build changed since (a newcomer's
// second start is instant).
//   node scripts/build-stamp.mjs --write            after a build
//   node scripts/build-stamp.mjs --build-if-stale   `npm run build` if any input is newer than the stamp
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const stamp = join(root, 'dist/.build-stamp');
/** What the build reads: the sources and the compiler settings (package-lock.json: a new TypeScript). */
const INPUTS = ['src', 'machines', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];

function newestMtime(path) {
  const stats = statSync(path, { throwIfNoEntry: false });
  if (stats === undefined) return 0;
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), stats.mtimeMs);
}

const mode = process.argv[2];
if (mode === '--write') {
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
} else if (mode === '--build-if-stale') {
  const built = statSync(stamp, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const changed = Math.max(...INPUTS.map((input) => newestMtime(join(root, input))));
  if (changed > built) {
    const result = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
    process.exit(result.status ?? 1);
  }
} else {
  process.stderr.write('usage: node scripts/build-stamp.mjs --write | --build-if-stale\n');
  process.exit(2);
}
