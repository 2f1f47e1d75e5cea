// What one more connection holds, from two V8 heap snapshots (before / after N idle connections):
//   node bench/heap-diff.mjs before.heapsnapshot after.heapsnapshot N [top]
// Prints bytes and object counts per connection, by node type and constructor/closure name.
// bench/conn-cost.ts --heap-snapshots takes the two snapshots of Postern and calls this.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Self size and count per `type:name` of every node in a .heapsnapshot file. */
function tally(file) {
  const snapshot = JSON.parse(readFileSync(file, 'utf8'));
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out = new Map();
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const type = types[snapshot.nodes[i + typeAt]];
    // Strings, code and numbers are named by their content: group them by type only.
    const name = /string|code|number/.test(type) ? '' : snapshot.strings[snapshot.nodes[i + nameAt]];
    const key = `${type}:${name}`.slice(0, 90);
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count += 1;
    entry.bytes += snapshot.nodes[i + sizeAt];
    out.set(key, entry);
  }
  return out;
}

/** Rows of (key, bytes per connection, objects per connection), largest first. */
export function heapDiff(beforeFile, afterFile, connections) {
  const before = tally(beforeFile);
  const rows = [];
  for (const [key, { count, bytes }] of tally(afterFile)) {
    const old = before.get(key) ?? { count: 0, bytes: 0 };
    rows.push({ key, bytes: (bytes - old.bytes) / connections, count: (count - old.count) / connections });
  }
  return rows.sort((a, b) => b.bytes - a.bytes);
}

export function printHeapDiff(rows, top = 30, write = (s) => process.stdout.write(s)) {
  const total = rows.reduce((sum, row) => sum + row.bytes, 0);
  write(`heap bytes per connection: ${total.toFixed(0)}\n   bytes  objects  type:name\n`);
  for (const row of rows.slice(0, top)) write(`${row.bytes.toFixed(0).padStart(8)} ${row.count.toFixed(2).padStart(8)}  ${row.key}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [before, after, n, top] = process.argv.slice(2);
  if (!before || !after || !n) throw new Error('usage: node bench/heap-diff.mjs before.heapsnapshot after.heapsnapshot N [top]');
  printHeapDiff(heapDiff(before, after, Number(n)), Number(top ?? 30));
}
