import type { Socket } from 'node:net';

/** DEMO ONLY. Reads CRLF lines (and IMAP literals) from a socket, one at a time, with a length limit. */
export class LineReader {
  #buffer = '';
  #literal = 0;
  #pending = '';
  readonly #limit: number;

  constructor(
    socket: Socket,
    private readonly onLine: (line: string) => void,
    private readonly onLiteral?: () => void,
    limit = 65536,
  ) {
    this.#limit = limit;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer += chunk.toString('latin1');
      this.#drain();
      if (this.#buffer.length > this.#limit) socket.destroy();
    });
  }

  #drain(): void {
    for (;;) {
      if (this.#literal > 0) {
        if (this.#buffer.length < this.#literal) return;
        this.#pending += `\u0000${this.#buffer.slice(0, this.#literal)}\u0000`;
        this.#buffer = this.#buffer.slice(this.#literal);
        this.#literal = 0;
      }
      const end = this.#buffer.indexOf('\n');
      if (end < 0) return;
      const line = this.#pending + this.#buffer.slice(0, end).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(end + 1);
      const literal = this.onLiteral ? /\{(\d+)(\+?)\}$/.exec(line) : null;
      if (literal) {
        this.#pending = line.slice(0, literal.index);
        this.#literal = Math.min(Number(literal[1]), this.#limit);
        if (literal[2] === '') this.onLiteral?.();
        if (this.#literal === 0) this.#pending += '\u0000\u0000';
        continue;
      }
      this.#pending = '';
      this.onLine(line);
    }
  }
}
