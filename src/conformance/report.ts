/** Turns a ConformanceReport into text: failures with transcripts and replay hints, then a summary table. */
import type { ConformanceReport, PropertyResult } from './types.js';

/** Makes a binary string printable: control bytes and bytes >= 0x80 as \xNN, CR as \r. */
export function visible(s: string): string {
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f-\xff]/g, (c) => (c === '\r' ? '\\r' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

const MAX_TRANSCRIPT_LINES = 120;

function formatFailure(r: PropertyResult): string[] {
  const f = r.failure!;
  const out = [`[${r.number}] ${r.id}: ${r.title}`, `    FAILED after ${r.runs} run(s)${f.shrinks > 0 ? `, shrunk ${f.shrinks} time(s)` : ''}`];
  for (const p of f.message.split('\n')) out.push(`    - ${visible(p)}`);
  for (const c of f.classes) out.push(`    class: ${visible(c)}`);
  out.push('    counterexample (C: client, S: server, *: event):');
  const lines = f.transcript.length > MAX_TRANSCRIPT_LINES ? [...f.transcript.slice(0, MAX_TRANSCRIPT_LINES), `... (${f.transcript.length - MAX_TRANSCRIPT_LINES} more lines)`] : f.transcript;
  for (const l of lines) out.push(`      ${visible(l)}`);
  out.push(`    seed ${f.seed}, path "${f.path}"`);
  out.push(`    replay: runConformance({ ...same options, properties: ['${r.id}'], seed: ${f.seed}, path: '${f.path}' })`);
  out.push(`        or: postern conformance ...same flags --property ${r.id} --seed ${f.seed} --path '${f.path}'`);
  return out;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function quirkNote(r: PropertyResult): string {
  if (!r.quirks || r.quirks.length === 0) return '';
  return `; known nginx quirk${r.quirks.length > 1 ? 's' : ''}: ${r.quirks.map((q) => `${q.id} in ${q.runs} run${q.runs === 1 ? '' : 's'}`).join(', ')}`;
}

function statusText(r: PropertyResult): string {
  const seconds = `${(r.durationMs / 1000).toFixed(1)} s`;
  switch (r.status) {
    case 'skipped':
      return `skipped: ${r.skipReason ?? ''}`;
    case 'incomplete':
      return `INCOMPLETE (${r.runs} runs, ${seconds}: ${r.incompleteReason ?? 'not every run was made'})`;
    default:
      return `${r.status} (${r.runs} runs, ${seconds}${r.interrupted ? ', stopped by the time budget' : ''}${quirkNote(r)})`;
  }
}

/** The closing line: `N passed, M failed`, then `, K incomplete` when there are any. */
export function summaryLine(report: Pick<ConformanceReport, 'passed' | 'failed' | 'incomplete'>): string {
  return `${report.passed} passed, ${report.failed} failed${report.incomplete > 0 ? `, ${report.incomplete} incomplete` : ''}`;
}

export function formatReport(report: ConformanceReport): string {
  const out: string[] = [];
  const tls = report.tls === 'starttls' ? `tls starttls (starttls ${report.starttlsMode})` : `tls ${report.tls}`;
  out.push(`Conformance of ${report.target.host}:${report.target.port}: ${report.protocol}, ${tls}, seed ${report.seed}, ${report.runsPerProperty} runs per property, ${(report.durationMs / 1000).toFixed(1)} s`);
  out.push('');
  for (const r of report.results) out.push(`[${r.number}] ${pad(r.id, 28)} ${statusText(r)}`);
  const failures = report.results.filter((r) => r.status === 'failed');
  if (failures.length > 0) {
    out.push('');
    out.push('Failures:');
    for (const r of failures) {
      out.push('');
      out.push(...formatFailure(r));
    }
  }
  const quirky = report.results.filter((r) => r.quirks && r.quirks.length > 0);
  if (quirky.length > 0) {
    out.push('');
    out.push('Known nginx quirks (nginx 1.22.1 does this, Postern copies it on purpose; tolerated, counted, failures with strict):');
    for (const r of quirky) {
      for (const q of r.quirks!) {
        out.push(`[${r.number}] ${r.id}: ${q.id}, in ${q.runs} run(s), ${q.occurrences} reply line(s) (${q.reference})`);
        out.push(`    ${q.title}`);
        out.push(`    e.g. ${visible(q.example)}`);
      }
    }
  }
  out.push('');
  out.push(`${pad('#', 3)}${pad('property', 30)}${pad('runs', 6)}result`);
  for (const r of report.results) {
    const result = r.status === 'skipped' ? `skipped (${r.skipReason ?? ''})` : r.quirks ? `${r.status} (known nginx quirks: ${r.quirks.map((q) => `${q.id} x${q.runs}`).join(', ')})` : r.status;
    out.push(`${pad(String(r.number), 3)}${pad(r.id, 30)}${pad(r.status === 'skipped' ? '-' : String(r.runs), 6)}${result}`);
  }
  out.push(summaryLine(report));
  return out.join('\n');
}
