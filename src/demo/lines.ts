import type { Socket } from 'node:net';

/**
 * DEMO ONLY — reads commands from a demo-mailbox connection: CRLF (or LF) lines and, for IMAP,
 * literals (`{n}` answered with a continuation, `{n+}` without). A command is handed over as
 * its parts `[text, literal, text, literal, ..., text]` (the `{n}` markers removed). Lines longer
 * than `maxLine`, literals bigger than `maxLiteral` and unbounded buffering end in `onOverflow`.
 */
export interface CommandReaderOptions {
  maxLine: number;
  /** Enables literals (IMAP). */
  maxLiteral?: number;
  onCommand(parts: string[]): void;
  /** A synchronising literal was announced: invite the client to send it. */
  onContinue?(): void;
  onOverflow(): void;
  /** The handler threw (a bug): answer something and carry on. */
  onError(error: unknown): void;
}

const LITERAL = /\{(\d{1,10})(\+?)\}$/;

export class CommandReader {
  #buffer = '';
  #parts: string[] = [];
  #size = 0;
  #literal = -1;
  #stopped = false;
  readonly #options: CommandReaderOptions;

  constructor(socket: Socket, options: CommandReaderOptions) {
    this.#options = options;
    socket.on('data', (chunk: Buffer) => {
      if (this.#stopped) return;
      this.#buffer += chunk.toString('latin1');
      this.#drain();
    });
  }

  /** No more commands (after QUIT/LOGOUT or an overflow). */
  stop(): void {
    this.#stopped = true;
    this.#buffer = '';
  }

  #overflow(): void {
    this.stop();
    this.#options.onOverflow();
  }

  #drain(): void {
    const { maxLine, maxLiteral } = this.#options;
    while (!this.#stopped) {
      if (this.#literal >= 0) {
        if (this.#buffer.length < this.#literal) return;
        this.#parts.push(this.#buffer.slice(0, this.#literal));
        this.#buffer = this.#buffer.slice(this.#literal);
        this.#literal = -1;
        continue;
      }
      const end = this.#buffer.indexOf('\n');
      if (end < 0) {
        if (this.#buffer.length > maxLine) this.#overflow();
        return;
      }
      const line = this.#buffer.slice(0, end > 0 && this.#buffer[end - 1] === '\r' ? end - 1 : end);
      this.#buffer = this.#buffer.slice(end + 1);
      this.#size += line.length;
      if (line.length > maxLine) return this.#overflow();
      const literal = maxLiteral === undefined ? null : LITERAL.exec(line);
      if (literal) {
        const size = Number(literal[1]);
        this.#size += size;
        if (size > maxLiteral! || this.#size > maxLiteral! + maxLine) return this.#overflow();
        this.#parts.push(line.slice(0, literal.index));
        this.#literal = size;
        if (literal[2] === '') this.#options.onContinue?.();
        continue;
      }
      const parts = [...this.#parts, line];
      this.#parts = [];
      this.#size = 0;
      try {
        this.#options.onCommand(parts);
      } catch (error) {
        this.#options.onError(error);
      }
    }
  }
}
