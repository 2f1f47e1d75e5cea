// The floor for bench/conn-cost.ts, bench/handshake-cost.ts --floor and `npm run bench`: what bare
// Node costs per connection, with no proxy logic.
//   node --expose-gc bench/floor-launch.mjs <cert> <key> [session-cache]
// A net.Server that writes a greeting line, and a tls.Server (the certificate given, TLS 1.2-1.3)
// that writes it after the handshake; both hold connections until the client closes. With
// `session-cache`, the least a Node server does for TLS session-ID resumption: `newSession` and
// `resumeSession` over a Map (bench/handshake-cost.ts --floor). Same IPC
// messages as bench/postern-launch.mjs: -> ready { ports: [plain, tls] }, <- gc, <- mem, <- heap-snapshot, <- shutdown.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { writeHeapSnapshot } from 'node:v8';

const [certPath, keyPath, cache] = process.argv.slice(2);
const GREETING = '* OK floor ready\r\n';
const hold = (socket) => {
  socket.on('error', () => undefined);
  socket.write(GREETING);
};
const plain = net.createServer({ noDelay: true }, hold);
const secure = tls.createServer(
  { cert: readFileSync(certPath), key: readFileSync(keyPath), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' },
  hold,
);
secure.on('tlsClientError', () => undefined);
if (cache === 'session-cache') {
  const sessions = new Map();
  secure.on('newSession', (id, session, done) => {
    if (sessions.size >= 10_000) sessions.delete(sessions.keys().next().value);
    sessions.set(id.toString('hex'), session);
    done();
  });
  secure.on('resumeSession', (id, answer) => answer(null, sessions.get(id.toString('hex')) ?? null));
}
const listen = (server) => new Promise((resolve) => server.listen(0, '127.0.0.1', 511, () => resolve(server.address().port)));
const ports = [await listen(plain), await listen(secure)];

const reply = (m) => process.send?.(m);
process.on('disconnect', () => process.exit(0));
process.on('message', (m) => {
  if (m?.type === 'gc') {
    globalThis.gc?.();
    reply({ type: 'gc-done', id: m.id, available: typeof globalThis.gc === 'function' });
  } else if (m?.type === 'heap-snapshot') {
    reply({ type: 'heap-snapshot', id: m.id, file: writeHeapSnapshot(m.file) });
  } else if (m?.type === 'mem') {
    globalThis.gc?.();
    const { heapUsed, external, arrayBuffers, rss } = process.memoryUsage();
    reply({ type: 'mem', id: m.id, heapUsed, external, arrayBuffers, rss });
  } else if (m?.type === 'shutdown') {
    process.exit(0);
  }
});
reply({ type: 'ready', pid: process.pid, ports });
