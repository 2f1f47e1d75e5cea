import type { FrameMode, Framed } from './types.js';

/**
 * What a dialect scanner reports after looking at the bytes of the command being assembled.
 *
 * - `again`: every byte offered was consumed, the command is not complete yet;
 * - `complete`: the command ended (at its LF); `consumed` is its full length;
 * - `continuation`: IMAP synchronising literal header read (`{N}` + CRLF); scanning resumes
 *   at the next call;
 * - `tooLong`: the scanner knows already that the command cannot fit (IMAP literal header
 *   announcing more bytes than the buffer can still hold).
 */
export type ScanResult =
  | { type: 'again' }
  | { type: 'complete'; framed: Framed }
  | { type: 'continuation' }
  | { type: 'tooLong'; tag?: string };

/**
 * An incremental, byte-at-a-time scanner for one protocol. It sees the command being
 * assembled as `data[base .. end)` and remembers how far it got (`consumed`, relative to
 * `base`), so each byte is looked at once however the input was split into chunks.
 */
export interface CommandScanner {
  /** Start a new command, read as a command line or as a SASL continuation line. */
  begin(mode: FrameMode): void;
  /** Continue scanning; `end - base` never exceeds the buffer size. */
  scan(data: Buffer, base: number, end: number): ScanResult;
  /** Bytes of the current command consumed so far. */
  readonly consumed: number;
  /** The IMAP tag of the current command if it was already read (for `tooLong`). */
  readonly tag: string | undefined;
}
