import { mkdir, open, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { encodeJournalLine } from './codec.js';
import type { JournalEntry } from './journal.js';
import type { JournalFactory, JournalSink } from './record.js';

/**
 * Entries are written in batches: when the connection ends (most sessions: one write), at the
 * latest FLUSH_MS after the first unwritten entry (long sessions), or when this much is waiting.
 */
const HIGH_WATER = 64 * 1024;
const FLUSH_MS = 1000;

let counter = 0;

/**
 * The file name of the next journal: `<ISO-time>-<pid>-<counter>.jsonl`. The counter is per
 * process, so the pid keeps the names of `worker_processes` workers apart.
 */
export function journalFileName(date = new Date()): string {
  counter += 1;
  return `${date.toISOString()}-${process.pid}-${String(counter).padStart(6, '0')}.jsonl`;
}

export interface FileJournalFactory extends JournalFactory {
  readonly directory: string;
  /** Resolves when every journal opened so far has been written and closed. */
  drain(): Promise<void>;
}

/**
 * The `postern_journal DIRECTORY` sink: one JSON-lines file per connection. Entries are encoded
 * (secrets redacted by the codec) when they are written, then written asynchronously in batches
 * (see HIGH_WATER); the file is complete once the machine is done. The directory is created when the first journal
 * opens. A failure (unwritable directory, full disk) is logged once per directory and stops that
 * connection's journal; it never reaches the session.
 */
export function fileJournal(directory: string, logger: Logger): FileJournalFactory {
  let ready: Promise<unknown> | null = null;
  let reported = false;
  const pending = new Set<Promise<void>>();

  const report = (error: unknown, file: string) => {
    if (reported) return;
    reported = true;
    logger.error({ err: (error as Error).message, directory, file }, 'postern_journal: cannot write the journal, journaling stops for this connection');
  };

  const factory = (): JournalSink => {
    const file = join(directory, journalFileName());
    let lines: string[] = [];
    let size = 0;
    let handle: FileHandle | null = null;
    let failed = false;
    let closing = false;
    let timer: NodeJS.Timeout | null = null;
    let chain: Promise<void> = Promise.resolve();

    /** Append what is waiting; `last`: nothing follows, so a file not opened yet is written in one go. */
    const writeOut = async (last = false) => {
      if (failed || lines.length === 0) return;
      const data = lines.join('');
      lines = [];
      size = 0;
      ready ??= mkdir(directory, { recursive: true });
      await ready;
      if (last && handle === null) {
        await writeFile(file, data, { flag: 'wx' });
        return;
      }
      handle ??= await open(file, 'wx');
      await handle.write(data);
    };
    const enqueue = (step: () => Promise<void>) => {
      chain = chain.then(step).catch((error: unknown) => {
        failed = true;
        lines = [];
        report(error, file);
      });
    };
    const flushLater = () => {
      if (timer !== null) return;
      timer = setTimeout(() => {
        timer = null;
        enqueue(writeOut);
      }, FLUSH_MS);
      timer.unref();
    };

    return {
      write(entry: JournalEntry) {
        if (failed || closing) return;
        const line = `${encodeJournalLine(entry)}\n`;
        lines.push(line);
        size += line.length;
        if (size >= HIGH_WATER) enqueue(writeOut);
        else flushLater();
      },
      close() {
        if (closing) return;
        closing = true;
        if (timer !== null) clearTimeout(timer);
        timer = null;
        enqueue(() => writeOut(true));
        enqueue(async () => {
          await handle?.close();
          handle = null;
        });
        const done = chain.then(async () => {
          // A failure after the file was opened: do not leak the descriptor.
          await handle?.close().catch(() => undefined);
        });
        pending.add(done);
        void done.finally(() => pending.delete(done));
      },
    };
  };
  return Object.assign(factory, {
    directory,
    drain: async () => {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  });
}
