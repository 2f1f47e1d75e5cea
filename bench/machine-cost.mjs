// What one connection's machine holds on the heap and costs, run as a live actor (an inspected
// connection), as the session's snapshot core (every other connection, src/session/snapshot-core.ts)
// or as a bare snapshot from XState's pure transition() (issue 16), built from dist/:
//   npm run build && node --expose-gc bench/machine-cost.mjs [kind ...]
// Each kind: 500 made to warm up, then 5,000 made and kept; prints µs to make one and heap bytes
// each holds after a GC. Kinds: actor, actor-user (after POP3 USER), core, core-user (the session's
// two machine cores, started, with their `timeout` armed), snapshot, snapshot-user, snapshot-timer
// (a snapshot plus the one `timeout` timer). Then µs per event (20,000 NOOPs on one connection):
// `actor.send`, the snapshot core, `transition()` (an inert actor per call), and
// `machine.transition()` with XState's own actor scope kept; then µs per connection for an
// implicit-TLS IMAP connection's whole machine life (start, handshake done, client closes).
import { createActor, initialTransition, transition } from 'xstate';
import { connectionMachine } from '../dist/machines/connection.js';
import { parseConfigText } from '../dist/src/config/index.js';
import { actorCore } from '../dist/src/session/machine-core.js';
import { connectionInput } from '../dist/src/session/session.js';
import { snapshotCore } from '../dist/src/session/snapshot-core.js';

if (typeof globalThis.gc !== 'function') {
  process.stderr.write('run with node --expose-gc\n');
  process.exit(2);
}
const config = parseConfigText(
  'mail { server_name bench.test; auth_http 127.0.0.1:9/auth; server { listen 127.0.0.1:1110; protocol pop3; } }',
  'machine-cost.conf',
);
const server = config.servers[0];
const input = () => connectionInput(server, false, '127.0.0.1');
const USER = { type: 'cmd.user', user: 'alice' };

const actor = () => {
  const made = createActor(connectionMachine, { input: input() });
  made.on('*', () => undefined);
  made.subscribe({ next: () => undefined, error: () => undefined });
  made.start();
  return made;
};
const snapshot = () => initialTransition(connectionMachine, input())[0];
const HOOKS = { effect: () => undefined, changed: () => undefined, failed: (error) => { throw error; } };
const core = (make) => () => {
  const made = make(input(), HOOKS, {});
  made.start();
  return made;
};

const KINDS = {
  actor,
  'actor-user': () => {
    const made = actor();
    made.send(USER);
    return made;
  },
  core: core(snapshotCore),
  'core-user': () => {
    const made = core(snapshotCore)();
    made.send(USER);
    return made;
  },
  snapshot,
  'snapshot-user': () => transition(connectionMachine, snapshot(), USER)[0],
  'snapshot-timer': () => [snapshot(), setTimeout(() => undefined, 600_000)],
};

const N = 5000;
const timers = [];
for (const kind of process.argv.length > 2 ? process.argv.slice(2) : Object.keys(KINDS)) {
  const make = KINDS[kind];
  if (!make) throw new Error(`unknown kind ${kind} (${Object.keys(KINDS).join(', ')})`);
  for (let i = 0; i < 500; i++) timers.push(make());
  globalThis.gc();
  const kept = [];
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) kept.push(make());
  const t1 = process.hrtime.bigint();
  globalThis.gc();
  const heap1 = process.memoryUsage().heapUsed;
  process.stdout.write(`${kind.padEnd(16)} ${(Number(t1 - t0) / 1000 / N).toFixed(1).padStart(6)} us  ${Math.round((heap1 - heap0) / N).toString().padStart(6)} B\n`);
  timers.push(...kept);
}

const NOOP = { type: 'cmd.noop' };
const EVENTS = 20_000;
const perEvent = (run) => {
  run(1000);
  const t0 = process.hrtime.bigint();
  run(EVENTS);
  return (Number(process.hrtime.bigint() - t0) / 1000 / EVENTS).toFixed(1).padStart(6);
};
const live = actor();
const sendCost = perEvent((n) => {
  for (let i = 0; i < n; i++) live.send(NOOP);
});
const liveCore = core(snapshotCore)();
const coreCost = perEvent((n) => {
  for (let i = 0; i < n; i++) liveCore.send(NOOP);
});
let kept = snapshot();
const transitionCost = perEvent((n) => {
  for (let i = 0; i < n; i++) kept = transition(connectionMachine, kept, NOOP)[0];
});
// What `transition()` does inside, with the scope made once (`_actorScope` is XState's own, not API).
const scope = createActor(connectionMachine)._actorScope;
const actions = [];
scope.actionExecutor = (action) => actions.push(action);
const sharedCost = perEvent((n) => {
  for (let i = 0; i < n; i++) {
    actions.length = 0;
    kept = connectionMachine.transition(kept, NOOP, scope);
  }
});
process.stdout.write(`per event: actor.send ${sendCost} us, snapshot core ${coreCost} us, transition() ${transitionCost} us, machine.transition() with a kept scope ${sharedCost} us\n`);

const imaps = parseConfigText(
  'mail { server_name bench.test; auth_http 127.0.0.1:9/auth; server { listen 127.0.0.1:1993 ssl; protocol imap; ssl_certificate /dev/null; ssl_certificate_key /dev/null; } }',
  'machine-cost.conf',
).servers[0];
const TLS = { type: 'tls.established', tls: { protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256' } };
const CLOSED = { type: 'client.closed' };
const life = (make) => () => {
  const made = make(connectionInput(imaps, true, '127.0.0.1'), HOOKS, {});
  made.start();
  made.send(TLS);
  made.send(CLOSED);
};
const LIVES = 20_000;
const perLife = (one) => {
  for (let i = 0; i < 3000; i++) one();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < LIVES; i++) one();
  return (Number(process.hrtime.bigint() - t0) / 1000 / LIVES).toFixed(1).padStart(6);
};
const lives = [];
for (let round = 0; round < 2; round++) lives.push(`actor ${perLife(life(actorCore))} us, snapshot core ${perLife(life(snapshotCore))} us`);
process.stdout.write(`per connection (start, TLS established, client closed), two alternating rounds: ${lives.join('; ')}\n`);
// Actors and timers keep the process alive: stop here.
process.exit(0);
