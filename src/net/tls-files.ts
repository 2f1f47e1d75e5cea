import { readFileSync } from 'node:fs';

/**
 * The TLS files of one load (start, reload, `postern -t`): certificates, keys, password files,
 * CAs, CRLs, DH parameters, ticket keys. Each path is read once per load, however many servers
 * and SNI certificates name it; a failed read fails again with the same error. Dropped with the
 * load, so no key outlives the contexts built from it.
 */
export interface TlsFiles {
  read(path: string): Buffer;
}

/** A reader for one load; `readFile` is the file system's unless a test counts the reads. */
export function tlsFiles(readFile: (path: string) => Buffer = (path) => readFileSync(path)): TlsFiles {
  const read = new Map<string, { bytes: Buffer } | { error: unknown }>();
  return {
    read(path) {
      let entry = read.get(path);
      if (entry === undefined) {
        try {
          entry = { bytes: readFile(path) };
        } catch (error) {
          entry = { error };
        }
        read.set(path, entry);
      }
      if ('error' in entry) throw entry.error;
      return entry.bytes;
    },
  };
}
