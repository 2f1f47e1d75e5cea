import { passed, summary, type FileResult } from './tap.js';

export interface Comparison {
  file: string;
  nginx: FileResult;
  postern: FileResult;
  /** Why Postern did not start, when it did not (its `[emerg]` line). */
  posternRefusal: string | undefined;
}

/** A file that passes on nginx must pass on Postern; everything else is reported, not judged. */
export const regressed = (c: Comparison): boolean => passed(c.nginx) && !passed(c.postern);

export function verdict(c: Comparison): string {
  const nginxPassed = passed(c.nginx);
  const posternPassed = passed(c.postern);
  if (nginxPassed && posternPassed) {
    const extra = c.postern.todoPassed.filter((t) => !c.nginx.todoPassed.includes(t));
    return extra.length === 0 ? 'equal' : `equal; TODO passed only on Postern: ${extra.join(', ')}`;
  }
  if (!nginxPassed && posternPassed) return 'passes on Postern only';
  if (c.nginx.skipAll !== undefined && c.postern.skipAll !== undefined) return 'skipped on both';
  const failures = c.postern.failed.filter((t) => !c.nginx.failed.includes(t));
  const why = c.posternRefusal ?? (failures.length > 0 ? `fails: ${failures.join(', ')}` : '');
  if (nginxPassed) return `**Postern fails**${why === '' ? '' : `: ${why}`}`;
  return failures.length === 0 && c.posternRefusal === undefined ? 'fails alike on both' : `fails on both; Postern also ${why}`;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|');

/** The per-file table, as Markdown (it goes into docs/testing.md as measured). */
export function formatTable(rows: Comparison[]): string {
  const lines = ['| file | nginx 1.22.1 | Postern | comparison |', '|---|---|---|---|'];
  for (const row of rows) lines.push(`| ${row.file} | ${cell(summary(row.nginx))} | ${cell(summary(row.postern))} | ${cell(verdict(row))} |`);
  const planned = (pick: (c: Comparison) => FileResult) => rows.reduce((n, c) => n + (pick(c).planned ?? 0), 0);
  const equal = rows.filter((c) => passed(c.nginx) && passed(c.postern)).length;
  lines.push('', `${rows.length} files (${planned((c) => c.nginx)} tests planned on nginx): ${equal} pass on both, ${rows.filter(regressed).length} pass on nginx only.`);
  return lines.join('\n');
}
