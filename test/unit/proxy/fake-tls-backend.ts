/**
 * A scripted POP3/IMAP/SMTP backend on loopback that speaks TLS: implicit (`on`) or after
 * STLS/STARTTLS (`starttls`). It records every line with whether it came over TLS, and every
 * handshake (SNI, resumption, client certificate). `inject` is written in the same write as the
 * STARTTLS reply: bytes a man in the middle would slip in before the handshake.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Protocol } from '../../../src/config/types.js';

export interface FakeBackendOptions {
  protocol: Protocol;
  mode: 'on' | 'starttls';
  cert: { certPem: string; keyPem: string };
  /** CA (PEM) for client certificates; the backend then asks for one. */
  clientCa?: string;
  /** Appended to the STARTTLS reply in the same write. */
  inject?: string;
  /** Written once the client's first handshake bytes arrived: plaintext inside the TLS stream. */
  injectAfterClientHello?: string;
  /** Reply to STARTTLS instead of the positive one. */
  refuseStarttls?: string;
}

export interface Handshake {
  servername: string | false;
  reused: boolean;
  /** CN of the client certificate, if one was presented and chains to `clientCa`. */
  clientCn?: string;
  clientAuthorized: boolean;
}

export interface FakeBackend {
  port: number;
  lines: Array<{ line: string; tls: boolean }>;
  handshakes: Handshake[];
  /** Connections not closed yet. */
  openConnections(): number;
  close(): Promise<void>;
}

const EHLO_PLAIN = '250-fake.backend\r\n250-STARTTLS\r\n250-XCLIENT ADDR LOGIN NAME\r\n250 AUTH PLAIN\r\n';
const EHLO_TLS = '250-fake.backend\r\n250-XCLIENT ADDR LOGIN NAME\r\n250 AUTH PLAIN\r\n';

/** A ManageSieve greeting: capability lines, then OK. */
const sieveCapabilities = (secure: boolean): string =>
  `"IMPLEMENTATION" "fake"\r\n"SASL" "PLAIN"\r\n${secure ? '' : '"STARTTLS"\r\n'}"VERSION" "1.0"\r\nOK "fake ready"\r\n`;

export async function startFakeBackend(options: FakeBackendOptions): Promise<FakeBackend> {
  const lines: FakeBackend['lines'] = [];
  const handshakes: Handshake[] = [];
  const sockets = new Set<net.Socket>();
  const tlsServer = tls.createServer({
    cert: options.cert.certPem,
    key: options.cert.keyPem,
    ...(options.clientCa === undefined ? {} : { ca: options.clientCa, requestCert: true, rejectUnauthorized: false }),
  });
  tlsServer.on('tlsClientError', () => undefined);
  /** TLS is run by injecting the plain socket into tlsServer; this finds the dialogue it belongs to. */
  const upgrades = new Map<number | undefined, (secure: tls.TLSSocket) => void>();
  tlsServer.on('secureConnection', (secure: tls.TLSSocket) => {
    secure.on('error', () => undefined);
    const then = upgrades.get(secure.remotePort);
    upgrades.delete(secure.remotePort);
    recordHandshake(secure);
    then?.(secure);
  });
  const upgrade = (plain: net.Socket, then: (secure: tls.TLSSocket) => void) => {
    upgrades.set(plain.remotePort, then);
    tlsServer.emit('connection', plain);
  };

  const recordHandshake = (secure: tls.TLSSocket) => {
    const peer = secure.getPeerCertificate();
    const cn = peer && typeof peer.subject === 'object' ? peer.subject.CN : undefined;
    handshakes.push({
      servername: (secure as tls.TLSSocket & { servername: string | false }).servername,
      reused: secure.isSessionReused(),
      ...(cn === undefined ? {} : { clientCn: Array.isArray(cn) ? cn.join(',') : cn }),
      clientAuthorized: secure.authorized,
    });
  };

  /** One connection's dialogue; `io` is the plain socket first, the TLS socket after STARTTLS. */
  const serve = (plain: net.Socket, startsSecure: tls.TLSSocket | null) => {
    let io: net.Socket = startsSecure ?? plain;
    let secure = startsSecure !== null;
    let pending = Buffer.alloc(0);
    let imapStage = 0;
    let tag = '';
    const write = (text: string) => io.write(text, 'latin1');

    const onLine = (line: string) => {
      lines.push({ line, tls: secure });
      const upper = line.toUpperCase();
      switch (options.protocol) {
        case 'pop3':
          if (upper === 'STLS' && !secure) return starttls('+OK Begin TLS negotiation\r\n');
          if (upper.startsWith('USER ')) return write('+OK user\r\n');
          if (upper.startsWith('PASS ')) return write(`+OK logged in${secure ? ' over TLS' : ''}\r\n`);
          return write('-ERR unknown\r\n');
        case 'imap': {
          if (imapStage === 0) {
            const [t = '', command = ''] = line.split(' ');
            tag = t;
            if (command.toUpperCase() === 'STARTTLS' && !secure) return starttls(`${tag} OK Begin TLS negotiation now\r\n`);
            if (command.toUpperCase() === 'LOGIN') {
              imapStage = 1;
              return write('+ go\r\n');
            }
            return write(`${tag} BAD unknown\r\n`);
          }
          if (imapStage === 1) {
            imapStage = 2;
            return write('+ go\r\n');
          }
          imapStage = 0;
          return write(`${tag} OK logged in${secure ? ' over TLS' : ''}\r\n`);
        }
        case 'smtp':
          if (upper.startsWith('EHLO ')) return write(secure ? EHLO_TLS : EHLO_PLAIN);
          if (upper.startsWith('HELO ')) return write('250 fake.backend\r\n');
          if (upper === 'STARTTLS' && !secure) return starttls('220 2.0.0 Ready to start TLS\r\n');
          if (upper.startsWith('XCLIENT ')) return write('220 fake.backend ESMTP\r\n');
          if (upper.startsWith('AUTH PLAIN ')) return write('235 2.7.0 Authentication successful\r\n');
          return write('502 5.5.2 unknown\r\n');
        case 'sieve':
          if (upper === 'STARTTLS' && !secure) return starttls('OK "Begin TLS negotiation now."\r\n');
          if (upper.startsWith('AUTHENTICATE "PLAIN" ')) return write(`OK "logged in${secure ? ' over TLS' : ''}"\r\n`);
          return write('NO "unknown"\r\n');
      }
    };

    const onData = (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n');
        if (end < 0) return;
        const line = pending.subarray(0, end).toString('latin1');
        pending = pending.subarray(end + 2);
        onLine(line);
        if (upgrades.has(plain.remotePort)) return; // handshake under way
      }
    };

    function starttls(reply: string): void {
      if (options.refuseStarttls !== undefined) {
        write(options.refuseStarttls);
        return;
      }
      plain.off('data', onData);
      plain.pause();
      pending = Buffer.alloc(0);
      plain.write(reply + (options.inject ?? ''), 'latin1');
      const late = options.injectAfterClientHello;
      if (late === undefined) {
        upgradeDialogue();
        return;
      }
      plain.once('data', (hello: Buffer) => {
        plain.pause();
        plain.unshift(hello);
        plain.write(late, 'latin1');
        upgradeDialogue();
      });
      plain.resume();
    }

    function upgradeDialogue(): void {
      upgrade(plain, (upgraded) => {
        io = upgraded;
        secure = true;
        upgraded.on('data', onData);
        // ManageSieve (RFC 5804 §2.2): the capabilities again, once TLS is up.
        if (options.protocol === 'sieve') write(sieveCapabilities(true));
      });
    }

    io.on('data', onData);
    io.on('error', () => undefined);
    if (options.protocol === 'pop3') write('+OK fake ready\r\n');
    else if (options.protocol === 'imap') write('* OK [CAPABILITY IMAP4rev1 STARTTLS] fake ready\r\n');
    else if (options.protocol === 'sieve') write(sieveCapabilities(secure));
    else write('220 fake.backend ESMTP\r\n');
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (options.mode === 'starttls') {
      serve(socket, null);
      return;
    }
    upgrade(socket, (secure) => serve(socket, secure));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    lines,
    handshakes,
    openConnections: () => sockets.size,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
