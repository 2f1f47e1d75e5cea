import net from 'node:net';

/** A raw client for the demo mailbox tests: send lines, wait for text. */
export class Wire {
  data = '';
  closed = false;
  #waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.data += chunk.toString('latin1');
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new Wire(socket)));
      socket.once('error', reject);
    });
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  send(text: string): void {
    this.socket.write(text, 'latin1');
  }

  /** Wait until the received text (from `from` on) matches; returns it and consumes it. */
  async until(pattern: RegExp | string, timeoutMs = 3000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = typeof pattern === 'string' ? this.data.indexOf(pattern) : this.data.search(pattern);
      if (match >= 0) {
        const length = typeof pattern === 'string' ? pattern.length : (pattern.exec(this.data.slice(match))?.[0].length ?? 0);
        const text = this.data.slice(0, match + length);
        this.data = this.data.slice(match + length);
        return text;
      }
      if (this.closed) throw new Error(`closed while waiting for ${String(pattern)}; got ${JSON.stringify(this.data)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(pattern)}; got ${JSON.stringify(this.data)}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  /** Send a command line and wait for the reply ending with `end`. */
  async ask(line: string, end: RegExp | string): Promise<string> {
    this.send(`${line}\r\n`);
    return this.until(end);
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
