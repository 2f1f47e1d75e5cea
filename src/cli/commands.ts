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
  let entries: JournalEntry[];
  let result;
  try {
    entries = readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line, i) => {
        try {
          return decodeJournalLine(line) as JournalEntry;
        } catch {
          throw new Error(`line ${i + 1} is not JSON`);
        }
      });
    result = replayJournal(entries);
  } catch (error) {
    process.stderr.write(`postern: cannot replay ${file}: ${(error as Error).message}\n`);
    return 1;
  }
  for (const entry of result.produced) {
    const detail = entry.kind === 'state' ? entry.state : JSON.stringify(entry.effect);
    process.stdout.write(`${entry.t.toFixed(1).padStart(10)} ms  ${entry.kind.padEnd(6)} ${detail}\n`);
  }
  if (result.divergence >= 0) {
    process.stderr.write(
      `postern: replay diverges from the journal at recorded entry ${result.divergence + 1} (states and effects, in order)\n` +
        `  recorded: ${result.expected ?? '(nothing: the replay produced more)'}\n` +
        `  replayed: ${result.actual ?? '(nothing: the replay stopped early)'}\n`,
    );
    return 1;
  }
  process.stderr.write('postern: replay matches the journal\n');
  return 0;
}
