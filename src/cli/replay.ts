import { readFileSync } from 'node:fs';
import { decodeJournalLine } from '../journal/codec.js';
import type { JournalEntry } from '../journal/journal.js';
import { replayJournal } from '../journal/replay.js';
import { parseCommandArgs, usageError } from './args.js';

const USAGE = `Usage: postern replay FILE

Re-runs a connection journal (written by postern_journal, one JSON line an entry) in a fresh
connection statechart and prints the states and effects it produces; exits 1 where they diverge
from the journal's.

Options:
  -h, --help          this text
`;

/** `postern replay FILE`: re-run a journal in a fresh machine; non-zero exit when it diverges. */
export function replayCommand(argv: string[]): number {
  const parsed = parseCommandArgs(argv, {}, USAGE);
  if ('exit' in parsed) return parsed.exit;
  const [file, extra] = parsed.positionals;
  if (file === undefined) return usageError('replay needs a journal file', USAGE);
  if (extra !== undefined) return usageError(`unexpected argument "${extra}"`, USAGE);
  return replayFile(file);
}

function replayFile(file: string): number {
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
