import type { CommandFramer, FrameMode, Framed } from './types.js';
import type { CommandScanner } from './scanner.js';

const INITIAL_CAPACITY = 256;

/**
 * Byte-exact command framer. Raw bytes stay in a Buffer until the dialect scanner has
 * a complete command; nothing is ever decoded as UTF-8 (arguments are latin1 strings, one
 * char per byte).
 *
 * Limit rule: the bytes of the command being assembled — from its first byte to its final LF,
 * including IMAP literal headers and literal data — must number at most `bufferSize`. When
 * `bufferSize` bytes of one command have been scanned without reaching its end, the result is
 * `tooLong`. Bytes of later pipelined commands never count (nginx's "partial command at the end
 * of a full buffer" artefact is deliberately not reproduced).
 */
class Framer implements CommandFramer {
  #data: Buffer = Buffer.allocUnsafe(INITIAL_CAPACITY);
  /** Start of the command being assembled (first unframed byte). */
  #head = 0;
  /** End of received bytes. */
  #tail = 0;
  /** A command has been started (scanner.begin called) and not finished. */
  #inCommand = false;
  #mode: FrameMode = 'command';
  /** After `tooLong` the runtime closes; the framer stops producing items. */
  #dead = false;
  /** A synchronising literal of the current command was already announced (`+ OK` sent). */
  #continued = false;

  constructor(
    private readonly scanner: CommandScanner,
    private readonly bufferSize: number,
  ) {}

  get buffered(): number {
    return this.#tail - this.#head;
  }

  push(chunk: Buffer): void {
    const n = chunk.length;
    if (n === 0) return;
    if (this.#tail + n > this.#data.length) {
      const live = this.#tail - this.#head;
      if (live + n <= this.#data.length && this.#head > 0) {
        this.#data.copy(this.#data, 0, this.#head, this.#tail);
      } else {
        let capacity = this.#data.length;
        while (capacity < live + n) capacity *= 2;
        const grown = Buffer.allocUnsafe(capacity);
        this.#data.copy(grown, 0, this.#head, this.#tail);
        this.#data = grown;
      }
      this.#head = 0;
      this.#tail = live;
    }
    chunk.copy(this.#data, this.#tail);
    this.#tail += n;
  }

  next(mode: FrameMode): Framed | undefined {
    if (this.#dead) return undefined;
    const available = this.#tail - this.#head;
    if (!this.#inCommand) {
      if (available === 0) return undefined;
      this.scanner.begin(mode);
      this.#mode = mode;
      this.#inCommand = true;
      this.#continued = false;
    } else if (mode !== this.#mode && !this.#continued) {
      // The runtime changed its mind about what the next line is: rescan it from its start
      // (unless the client was already invited to send a literal: that command is read as begun,
      // and its `+ OK` is never sent twice).
      this.scanner.begin(mode);
      this.#mode = mode;
    }

    const limit = Math.min(available, this.bufferSize);
    const result = this.scanner.scan(this.#data, this.#head, this.#head + limit);
    switch (result.type) {
      case 'complete': {
        this.#head += this.scanner.consumed;
        this.#inCommand = false;
        if (this.#head === this.#tail) this.#head = this.#tail = 0;
        return result.framed;
      }
      case 'continuation':
        this.#continued = true;
        return { type: 'literalContinuation' };
      case 'tooLong':
        this.#dead = true;
        return result.tag === undefined ? { type: 'tooLong' } : { type: 'tooLong', tag: result.tag };
      case 'again': {
        if (this.scanner.consumed >= this.bufferSize) {
          this.#dead = true;
          const tag = this.scanner.tag;
          return tag === undefined ? { type: 'tooLong' } : { type: 'tooLong', tag };
        }
        return undefined;
      }
    }
  }

  takeRemainder(): Buffer {
    const rest = Buffer.from(this.#data.subarray(this.#head, this.#tail));
    this.#head = this.#tail = 0;
    this.#inCommand = false;
    this.#dead = false;
    return rest;
  }
}

/**
 * Creates the command framer for one client connection from its protocol's scanner
 * (`MailProtocol.scanner`) and command buffer (`MailProtocol.settings(...).clientBuffer`).
 */
export function createFramer(scanner: CommandScanner, bufferSize: number): CommandFramer {
  if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) {
    throw new RangeError(`bufferSize must be a positive integer, got ${String(bufferSize)}`);
  }
  return new Framer(scanner, bufferSize);
}
