// The NOOP flooder of the bench's `edge` phase, in its own process so that its CPU does not
// distort the bench process's timings:
//   node bench/noop-flood.mjs <port> <maxMs>
// Connects to 127.0.0.1:<port>, reads the IMAP greeting, then pipelines `a NOOP\r\n` as fast as
// the socket takes it (64 KB of commands per write, the next once the socket has room) and
// reads and counts the reply lines. Talks to bench/edge.ts over the IPC channel:
//   -> { type: 'ready' }   the flood has started
//   <- { type: 'count' }   -> { type: 'count', replies }   replies read so far
//   <- { type: 'stop' }    -> { type: 'result', replies, bytesSent, closedEarly } and exit
// Stops by itself after <maxMs> (then reports as if told to stop).
import net from 'node:net';

const port = Number(process.argv[2]);
const maxMs = Number(process.argv[3]);
if (!port || !maxMs) {
  process.stderr.write('usage: node bench/noop-flood.mjs <port> <maxMs>\n');
  process.exit(2);
}

const CHUNK = Buffer.from('a NOOP\r\n'.repeat(8192), 'latin1');
const sock = net.connect({ host: '127.0.0.1', port, noDelay: true });
let greeted = false;
let stopped = false;
let closedEarly = false;
let replies = 0;
let bytesSent = 0;
const sent = (error) => {
  if (!error) bytesSent += CHUNK.length;
};

/** One chunk per turn (the replies are read in between); the next on 'drain' or the next turn. */
const pump = () => {
  if (stopped || sock.destroyed) return;
  if (sock.write(CHUNK, sent)) setImmediate(pump);
};

const stop = () => {
  if (stopped) return;
  stopped = true;
  sock.destroy();
  process.send?.({ type: 'result', replies, bytesSent, closedEarly }, () => process.exit(0));
};

sock.on('data', (chunk) => {
  let i = -1;
  let lines = 0;
  while ((i = chunk.indexOf(10, i + 1)) !== -1) lines++;
  if (!greeted) {
    if (lines === 0) return;
    greeted = true;
    lines--; // the greeting
    setTimeout(stop, maxMs);
    process.send?.({ type: 'ready' });
    pump();
  }
  replies += lines;
});
sock.on('drain', pump);
sock.on('close', () => {
  if (!stopped) closedEarly = true;
});
sock.on('error', () => undefined);
process.on('message', (m) => {
  if (m?.type === 'count') process.send?.({ type: 'count', replies });
  else if (m?.type === 'stop') stop();
});
process.on('disconnect', () => process.exit(0));
// A proxy that never greets: give up after the same bound.
setTimeout(() => process.exit(1), maxMs + 10_000).unref();
