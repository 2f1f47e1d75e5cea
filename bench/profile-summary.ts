/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): the frames with the most self time.
 *   npx tsx bench/profile-summary.ts bench/results/profiles/CPU.xxx.cpuprofile [N]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface Frame {
  name: string;
  where: string;
  selfPct: number;
  selfMs: number;
}

export function summarizeProfile(file: string, top = 25): Frame[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) {
    const id = prof.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const agg = new Map<string, { name: string; where: string; us: number }>();
  for (const [id, us] of self) {
    const cf = byId.get(id)!.callFrame;
    const name = cf.functionName || '(anonymous)';
    const url = cf.url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, 'node_modules/').replace(/.*\/(dist|bench)\//, '$1/');
    const where = url ? `${url}:${cf.lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const e = agg.get(key) ?? { name, where, us: 0 };
    e.us += us;
    agg.set(key, e);
  }
  return [...agg.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfPct: (100 * e.us) / total, selfMs: e.us / 1000 }));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: tsx bench/profile-summary.ts FILE.cpuprofile [N]');
  for (const fr of summarizeProfile(file, Number(process.argv[3] ?? 30))) {
    process.stdout.write(`${fr.selfPct.toFixed(1).padStart(5)}%  ${fr.selfMs.toFixed(0).padStart(7)} ms  ${fr.name}  ${fr.where}\n`);
  }
}
