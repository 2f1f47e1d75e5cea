import { readFileSync } from 'node:fs';
import { connectionMachine } from '../../machines/connection.js';
import { machineEdges, toDot, toMermaid } from '../diagram/export.js';
import { decodeJournalLine } from '../journal/codec.js';
import type { JournalEntry } from '../journal/journal.js';
import { replayJournal } from '../journal/replay.js';

/** `postern machines --format json|mermaid|dot`: the connection statechart's definition. */
export function printMachines(format: string): number {
  switch (format) {
    case 'mermaid':
      process.stdout.write(toMermaid(connectionMachine));
      return 0;
    case 'dot':
      process.stdout.write(toDot(connectionMachine));
      return 0;
    case 'json':
      process.stdout.write(`${JSON.stringify({ definition: connectionMachine.root.definition, edges: machineEdges(connectionMachine) }, null, 2)}\n`);
      return 0;
    default:
      process.stderr.write(`postern: unknown format "${format}" (json, mermaid or dot)\n`);
      return 2;
  }
}

/** `postern replay FILE`: re-run a journal in a fresh machine; non-zero exit when it diverges. */
export function replayFile(file: string): number {
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => decodeJournalLine(line) as JournalEntry);
  const result = replayJournal(entries);
  for (const entry of result.produced) {
    const detail = entry.kind === 'state' ? entry.state : JSON.stringify(entry.effect);
    process.stdout.write(`${entry.t.toFixed(1).padStart(10)} ms  ${entry.kind.padEnd(6)} ${detail}\n`);
  }
  if (result.divergence >= 0) {
    process.stderr.write(`postern: replay diverges at entry ${result.divergence}\n  recorded: ${result.expected}\n  replayed: ${result.actual}\n`);
    return 1;
  }
  process.stderr.write('postern: replay matches the journal\n');
  return 0;
}
