/**
 * A plain-TCP backend on loopback that plays a script per connection: write these bytes, read a
 * line, stream a reply that never ends. It records every line the proxy sent, so tests can check
 * what a backend received. Serves nginx and Postern alike.
 */
import net from 'node:net';

export interface ScriptedConnection {
  /** Writes bytes (latin1), waiting while the socket is full; false once the proxy is gone. */
  write(bytes: string): Promise<boolean>;
  /** The proxy's next line, CRLF stripped; rejects once the proxy is gone. */
  line(): Promise<string>;
  /** Writes `unit` again and again until the proxy goes away. */
  endless(unit: string): Promise<void>;
  /** Closes the connection once what was written has been sent. */
  end(): void;
}

export interface ScriptedBackend {
  port: number;
  /** Every line the proxy sent, over all connections. */
  lines: string[];
  close(): Promise<void>;
}

export async function startScriptedBackend(script: (connection: ScriptedConnection) => Promise<void>): Promise<ScriptedBackend> {
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = '';
    const waiting: Array<{ resolve: (line: string) => void; reject: (error: Error) => void }> = [];
    const queued: string[] = [];
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n'); end >= 0; end = pending.indexOf('\r\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        lines.push(line);
        const waiter = waiting.shift();
        if (waiter === undefined) queued.push(line);
        else waiter.resolve(line);
      }
    });
    socket.on('close', () => {
      for (const waiter of waiting.splice(0)) waiter.reject(new Error('proxy closed the connection'));
    });
    const gone = () => socket.destroyed || !socket.writable;
    const write = (bytes: string): Promise<boolean> =>
      new Promise((resolve) => {
        if (gone()) {
          resolve(false);
          return;
        }
        if (socket.write(bytes, 'latin1')) resolve(true);
        else {
          const settle = () => {
            socket.off('drain', settle);
            socket.off('close', settle);
            resolve(!gone());
          };
          socket.on('drain', settle);
          socket.on('close', settle);
        }
      });
    const connection: ScriptedConnection = {
      write,
      line: () =>
        new Promise((resolve, reject) => {
          const line = queued.shift();
          if (line !== undefined) resolve(line);
          else if (gone()) reject(new Error('proxy closed the connection'));
          else waiting.push({ resolve, reject });
        }),
      async endless(unit) {
        const batch = unit.repeat(Math.max(1, Math.floor(16_384 / unit.length)));
        while (await write(batch));
      },
      end: () => socket.end(),
    };
    script(connection).then(
      () => undefined,
      () => undefined,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    lines,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
