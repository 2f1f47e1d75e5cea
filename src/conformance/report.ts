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
  out.push('    counterexample (C: client, S: server, *: event):');
  const lines = f.transcript.length > MAX_TRANSCRIPT_LINES ? [...f.transcript.slice(0, MAX_TRANSCRIPT_LINES), `... (${f.transcript.length - MAX_TRANSCRIPT_LINES} more lines)`] : f.transcript;
  for (const l of lines) out.push(`      ${visible(l)}`);
  out.push(`    seed ${f.seed}, path "${f.path}"`);
  out.push(`    replay: runConformance({ ...same options, properties: ['${r.id}'], seed: ${f.seed}, path: '${f.path}' })`);
  return out;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function formatReport(report: ConformanceReport): string {
  const out: string[] = [];
  const tls = report.tls === 'starttls' ? `tls starttls (starttls ${report.starttlsMode})` : `tls ${report.tls}`;
  out.push(`Conformance of ${report.target.host}:${report.target.port}: ${report.protocol}, ${tls}, seed ${report.seed}, ${report.runsPerProperty} runs per property, ${(report.durationMs / 1000).toFixed(1)} s`);
  out.push('');
  for (const r of report.results) {
    const what = r.status === 'skipped' ? `skipped: ${r.skipReason ?? ''}` : `${r.status} (${r.runs} runs, ${(r.durationMs / 1000).toFixed(1)} s${r.interrupted ? ', stopped by the time budget' : ''})`;
    out.push(`[${r.number}] ${pad(r.id, 28)} ${what}`);
  }
  const failures = report.results.filter((r) => r.status === 'failed');
  if (failures.length > 0) {
    out.push('');
    out.push('Failures:');
    for (const r of failures) {
      out.push('');
      out.push(...formatFailure(r));
    }
  }
  out.push('');
  out.push(`${pad('#', 3)}${pad('property', 30)}${pad('runs', 6)}result`);
  for (const r of report.results) {
    const result = r.status === 'skipped' ? `skipped (${r.skipReason ?? ''})` : r.status;
    out.push(`${pad(String(r.number), 3)}${pad(r.id, 30)}${pad(r.status === 'skipped' ? '-' : String(r.runs), 6)}${result}`);
  }
  out.push(`${report.passed} passed, ${report.failed} failed`);
  return out.join('\n');
}
