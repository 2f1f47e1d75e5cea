// What the per-connection objects of a session cost, one kind at a time (the build in dist/):
//   node --expose-gc bench/object-cost.mjs [kind ...]
// For each kind: 500 made to warm up, then 5,000 made and kept; prints µs to make one and heap
// bytes each holds after a GC. Kinds: input, abort-controller, aborted-controller, rx-chain (fromEvent + merge +
// Subject, as the session had), command-stream (frameCommands, as it has), framer, emitter.
// Run each kind in its own process if the figures look odd (code warms up across kinds).
// The connection's machine (an actor or the snapshot core) is bench/machine-cost.mjs's.
import { EventEmitter } from 'node:events';
import { fromEvent, merge, Subject } from 'rxjs';
import { parseConfigText } from '../dist/src/config/index.js';
import { createFramer } from '../dist/src/protocols/framer.js';
import { frameCommands } from '../dist/src/session/frame-commands.js';
import { connectionInput } from '../dist/src/session/session.js';

if (typeof globalThis.gc !== 'function') {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(2);
}
const config = parseConfigText(
  'mail { server_name bench.test; auth_http 127.0.0.1:9/auth; server { listen 127.0.0.1:1143; protocol imap; } }',
  'object-cost.conf',
);
const server = config.servers[0];
const input = () => connectionInput(server, false, '127.0.0.1');
const framer = () => createFramer('imap', 4096);

const KINDS = {
  input,
  'abort-controller': () => new AbortController(),
  'aborted-controller': () => {
    const controller = new AbortController();
    controller.abort();
    return controller;
  },
  'rx-chain': () => {
    const source = new EventEmitter();
    return [source, merge(fromEvent(source, 'data'), new Subject()).subscribe(() => undefined)];
  },
  'command-stream': () => {
    const source = new EventEmitter();
    const made = framer();
    const stream = frameCommands(source, { framer: () => made, mode: () => 'command', held: () => false, yielding: () => undefined });
    return [source, stream, stream.commands$.subscribe(() => undefined)];
  },
  framer,
  emitter: () => new EventEmitter(),
};

const N = 5000;
for (const kind of process.argv.length > 2 ? process.argv.slice(2) : Object.keys(KINDS)) {
  const make = KINDS[kind];
  if (!make) throw new Error(`unknown kind ${kind} (${Object.keys(KINDS).join(', ')})`);
  for (let i = 0; i < 500; i++) make();
  globalThis.gc();
  const kept = [];
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) kept.push(make());
  const t1 = process.hrtime.bigint();
  globalThis.gc();
  const heap1 = process.memoryUsage().heapUsed;
  process.stdout.write(`${kind.padEnd(20)} ${(Number(t1 - t0) / 1000 / N).toFixed(1).padStart(6)} us  ${Math.round((heap1 - heap0) / N).toString().padStart(6)} B\n`);
  kept.length = 0;
}
