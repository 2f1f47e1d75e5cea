// The floor for a full IMAP session (bench/run.ts, bench/handshake-cost.ts --mode imap --floor):
// the least a Node server does to proxy an IMAP session, with none of Postern's logic.
//   node bench/floor-session.mjs <cert> <key> <auth-port>
// Per client, the same bytes as nginx and Postern on the wire: a greeting; on the plaintext port,
// `STARTTLS` answered and the socket wrapped in a server TLSSocket (or LOGIN at once); on the
// implicit-TLS port, a tls.Server's socket; `LOGIN user pass` sent to the auth_http service as
// one HTTP/1.0 request on its own connection; the backend from its answer logged in to with
// synchronising literals (nginx's ngx_mail_proxy_imap_handler); its tagged OK passed on; then
// both sockets piped to each other until either closes. No limits, timeouts, quoting, escaping,
// pipelining, logging or error replies: anything unexpected destroys both sockets.
// IPC as bench/floor-launch.mjs: -> ready { ports: [imap, imaps] }, <- shutdown.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const [certPath, keyPath, authPort] = process.argv.slice(2);
const credentials = { cert: readFileSync(certPath), key: readFileSync(keyPath), minVersion: 'TLSv1.2' };
const context = tls.createSecureContext(credentials);

/** Calls `onLine(line)` for each CRLF-terminated line `socket` sends, until it returns false. */
const readLines = (socket, onLine) => {
  let buffered = '';
  const onData = (chunk) => {
    buffered += chunk.toString('latin1');
    let end;
    while ((end = buffered.indexOf('\r\n')) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      if (onLine(line) === false) {
        socket.removeListener('data', onData);
        return;
      }
    }
  };
  socket.on('data', onData);
};

/** One auth_http request, nginx's headers; calls `done(host, port)` or `done(null)`. */
const authenticate = (user, pass, done) => {
  const auth = net.connect({ port: Number(authPort), host: '127.0.0.1', noDelay: true });
  let answer = '';
  auth.on('error', () => done(null));
  auth.on('data', (chunk) => {
    answer += chunk.toString('latin1');
    if (!answer.includes('\r\n\r\n')) return;
    auth.destroy();
    const header = (name) => new RegExp(`^${name}: *(.*)$`, 'mi').exec(answer)?.[1]?.trim();
    if (header('Auth-Status') !== 'OK') return done(null);
    done(header('Auth-Server'), Number(header('Auth-Port')));
  });
  auth.write(
    'GET /auth HTTP/1.0\r\nHost: 127.0.0.1\r\nAuth-Method: plain\r\n' +
      `Auth-User: ${user}\r\nAuth-Pass: ${pass}\r\nAuth-Protocol: imap\r\nAuth-Login-Attempt: 1\r\n` +
      'Client-IP: 127.0.0.1\r\nClient-Host: [UNAVAILABLE]\r\n\r\n',
    'latin1',
  );
};

/** Logs in to the backend as nginx does, then relays. */
const proxy = (client, tag, user, pass, host, port) => {
  const backend = net.connect({ port, host, noDelay: true });
  const fail = () => {
    client.destroy();
    backend.destroy();
  };
  backend.on('error', fail);
  client.on('error', fail);
  const sends = [`${tag} LOGIN {${user.length}}\r\n`, `${user} {${pass.length}}\r\n`, `${pass}\r\n`];
  readLines(backend, (line) => {
    if (sends.length > 0) {
      if (!line.startsWith(sends.length === 3 ? '* OK' : '+')) return fail(), false;
      backend.write(sends.shift(), 'latin1');
      return true;
    }
    if (line.startsWith('* ')) return true;
    if (!line.startsWith(`${tag} OK`)) return fail(), false;
    client.write(`${line}\r\n`, 'latin1');
    client.pipe(backend);
    backend.pipe(client);
    client.on('close', () => backend.destroy());
    backend.on('close', () => client.destroy());
    return false;
  });
};

/** `LOGIN` (and, on plaintext, `STARTTLS` first), then the proxied session. */
const loggedOut = (client, plaintext) => {
  readLines(client, (line) => {
    const [tag, verb, user, pass] = line.split(' ');
    if (plaintext && verb?.toUpperCase() === 'STARTTLS') {
      client.write(`${tag} OK begin TLS negotiation now\r\n`);
      const secure = new tls.TLSSocket(client, { isServer: true, secureContext: context });
      secure.on('error', () => secure.destroy());
      loggedOut(secure, false);
      return false;
    }
    if (verb?.toUpperCase() !== 'LOGIN' || !user || !pass) return client.destroy(), false;
    client.pause();
    authenticate(user, pass, (host, port) => {
      if (!host) return client.destroy();
      proxy(client, tag, user, pass, host, port);
      client.resume();
    });
    return false;
  });
};

const greet = (plaintext) => (client) => {
  client.on('error', () => client.destroy());
  client.write('* OK IMAP4 ready\r\n');
  loggedOut(client, plaintext);
};
const plain = net.createServer({ noDelay: true }, greet(true));
const implicit = tls.createServer(credentials, greet(false));
implicit.on('connection', (socket) => socket.setNoDelay(true));
implicit.on('tlsClientError', () => undefined);

const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', 511, () => resolve(server.address().port)));
const ports = [await listen(plain), await listen(implicit)];
process.on('disconnect', () => process.exit(0));
process.on('message', (m) => {
  if (m?.type === 'shutdown') process.exit(0);
});
process.send?.({ type: 'ready', pid: process.pid, ports });
