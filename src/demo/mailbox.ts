import net from 'node:net';
import { serveImap } from './imap.js';
import { servePop3 } from './pop3.js';
import { serveSmtp } from './smtp.js';
import { DemoStore, type DemoUser } from './store.js';

/**
 * DEMO ONLY — the in-memory POP3 and IMAP backend of Postern's embedded default, so that a
 * newcomer can try the proxy without a mail server:
 *
 *   curl -k --ssl-reqd imaps://127.0.0.1:PORT/INBOX -u demo:demo            (list)
 *   curl -k --ssl-reqd 'imaps://127.0.0.1:PORT/INBOX;UID=1' -u demo:demo    (read a message)
 *   curl -k --ssl-reqd pop3://127.0.0.1:PORT/ -u demo:demo                   (LIST)
 *   curl -k --ssl-reqd pop3://127.0.0.1:PORT/1 -u demo:demo                  (RETR 1)
 *   curl -k --ssl-reqd smtp://127.0.0.1:PORT --mail-from a@b --mail-rcpt demo@postern.invalid -u demo:demo -T msg.txt
 *
 * Plain TCP on loopback, a few fixed messages per user, nothing persisted or really deleted;
 * SMTP "delivers" to the demo users' INBOXes in memory, nowhere else.
 * It says DEMO in its greetings. It is not a mail server and must not be used as one.
 */

export interface DemoMailboxOptions {
  host: string;
  /** 0 for an ephemeral port. */
  pop3Port: number;
  imapPort: number;
  /** The SMTP backend (0 for an ephemeral port); none when absent. */
  smtpPort?: number;
  users: readonly DemoUser[];
  /** Messages every user gets instead of the built-in ones (RFC 5322 text; LF or CRLF). */
  messages?: string[];
}

export interface DemoMailbox {
  pop3Port: number;
  imapPort: number;
  /** The SMTP backend's port, when asked for. */
  smtpPort?: number;
  close(): Promise<void>;
}

function listen(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

const closeServer = (server: net.Server) =>
  new Promise<void>((resolve) => {
    if (!server.listening) resolve();
    else server.close(() => resolve());
  });

export async function startDemoMailbox(options: DemoMailboxOptions): Promise<DemoMailbox> {
  const store = new DemoStore(options.users, options.messages);
  const sockets = new Set<net.Socket>();
  const accept = (serve: (socket: net.Socket, store: DemoStore) => void) => (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    socket.setTimeout(10 * 60_000, () => socket.destroy());
    serve(socket, store);
  };
  const pop3 = net.createServer(accept(servePop3));
  const imap = net.createServer(accept(serveImap));
  const smtp = net.createServer(accept(serveSmtp));
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all([closeServer(pop3), closeServer(imap), closeServer(smtp)]);
  };
  try {
    const pop3Port = await listen(pop3, options.host, options.pop3Port);
    const imapPort = await listen(imap, options.host, options.imapPort);
    if (options.smtpPort === undefined) return { pop3Port, imapPort, close };
    const smtpPort = await listen(smtp, options.host, options.smtpPort);
    return { pop3Port, imapPort, smtpPort, close };
  } catch (error) {
    await close();
    throw error;
  }
}
