import net from 'node:net';
import { serveImap } from './imap.js';
import { servePop3 } from './pop3.js';
import { DemoStore } from './store.js';

export interface DemoMailboxOptions {
  host: string;
  pop3Port: number;
  imapPort: number;
  users: ReadonlyArray<{ user: string; password: string }>;
}

export interface DemoMailbox {
  pop3Port: number;
  imapPort: number;
  close(): Promise<void>;
}

function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as net.AddressInfo).port));
  });
}

/**
 * DEMO ONLY: the in-memory POP3 and IMAP backend of Postern's embedded default, so that a
 * newcomer can try the proxy without a mail server. Not a mail server.
 */
export async function startDemoMailbox(options: DemoMailboxOptions): Promise<DemoMailbox> {
  const store = new DemoStore(options.users);
  const sockets = new Set<net.Socket>();
  const track = (serve: (socket: net.Socket, store: DemoStore) => void) => (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    serve(socket, store);
  };
  const pop3 = net.createServer(track(servePop3));
  const imap = net.createServer(track(serveImap));
  const pop3Port = await listen(pop3, options.host, options.pop3Port);
  const imapPort = await listen(imap, options.host, options.imapPort);
  return {
    pop3Port,
    imapPort,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([pop3, imap].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
