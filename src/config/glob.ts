/**
 * The glob(3) subset nginx's `include` relies on: `*`, `?` and `[...]` (with `!`/`^` negation and
 * ranges) in any path component; a leading `.` must be matched explicitly; results sorted like
 * glob() in the C locale. No matches is not an error (nginx calls glob() in "test" mode).
 */
import { readdirSync, statSync } from 'node:fs';
import { join, parse, sep } from 'node:path';

export const hasGlob = (pattern: string): boolean => /[*?[]/.test(pattern);

function segmentRegExp(segment: string): RegExp {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i]!;
    if (ch === '*') out += '.*';
    else if (ch === '?') out += '.';
    else if (ch === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, (c) => `\\${c}`)}]`;
      i = close;
    } else out += ch.replace(/[.+^${}()|\\]/g, (c) => `\\${c}`);
  }
  return new RegExp(`^${out}$`, 's');
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Absolute pattern in, sorted matching paths out. */
export function expandGlob(pattern: string): string[] {
  const { root } = parse(pattern);
  const segments = pattern.slice(root.length).split(sep).filter((s) => s !== '');
  let paths = [root];
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    const next: string[] = [];
    for (const dir of paths) {
      if (!hasGlob(segment)) {
        const candidate = join(dir, segment);
        if (last || isDirectory(candidate)) next.push(candidate);
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
        throw error;
      }
      const re = segmentRegExp(segment);
      for (const name of names.sort(byteOrder)) {
        if (name.startsWith('.') && !segment.startsWith('.')) continue;
        if (!re.test(name)) continue;
        const candidate = join(dir, name);
        if (!last && !isDirectory(candidate)) continue;
        next.push(candidate);
      }
    }
    paths = next;
  }
  return paths.filter((p) => exists(p)).sort(byteOrder);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
