/** Nothing kept, or nothing left over: one empty buffer for every login. */
const EMPTY = Buffer.alloc(0);

/**
 * nginx's `s->proxy->buffer` during the backend login: one reply must fit in `proxy_buffer`
 * bytes. Like nginx's `recv()` into the buffer's free space, `take` keeps only what fits and
 * hands back the rest, for the caller to leave unread with the socket.
 */
export class ReplyBuffer {
  #bytes: Buffer = EMPTY;

  constructor(readonly capacity: number) {}

  /** Keeps what fits of `chunk`; returns the bytes that did not fit (empty when all did). */
  take(chunk: Buffer): Buffer {
    const free = this.capacity - this.#bytes.length;
    if (chunk.length <= free) {
      this.#bytes = this.#bytes.length === 0 ? chunk : Buffer.concat([this.#bytes, chunk]);
      return EMPTY;
    }
    this.#bytes = Buffer.concat([this.#bytes, chunk.subarray(0, free)]);
    return chunk.subarray(free);
  }

  get length(): number {
    return this.#bytes.length;
  }

  get full(): boolean {
    return this.#bytes.length >= this.capacity;
  }

  /** nginx reads on until at least 4 bytes have arrived and they end in CRLF. */
  get endsLine(): boolean {
    const bytes = this.#bytes;
    return bytes.length >= 4 && bytes[bytes.length - 2] === 0x0d && bytes[bytes.length - 1] === 0x0a;
  }

  get bytes(): Buffer {
    return this.#bytes;
  }

  clear(): void {
    this.#bytes = EMPTY;
  }
}
