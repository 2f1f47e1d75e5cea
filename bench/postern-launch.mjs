// Runs Postern (the compiled build in dist/) as one process for the benchmark:
//   node bench/postern-launch.mjs <mail-config-file>
// Silent logger. Talks to bench/run.ts over the IPC channel:
//   -> { type: 'ready', ports } once every listener is bound
//   <- { type: 'eld-start' }          reset and start perf_hooks.monitorEventLoopDelay
//   <- { type: 'eld-stop', id }       -> { type: 'eld', id, p50, p99, max, mean } in ms
//   <- { type: 'gc', id }             -> { type: 'gc-done', id } (needs --expose-gc)
//   <- { type: 'mem', id }            -> { type: 'mem', id, heapUsed, external, arrayBuffers, rss } after a GC if exposed
//   <- { type: 'heap-snapshot', id, file? } -> { type: 'heap-snapshot', id, file } (v8.writeHeapSnapshot)
//   <- { type: 'shutdown' }           close listeners and exit 0 (so --cpu-prof is written)
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';
import { parseConfigText } from '../dist/src/config/index.js';
import { silentLogger } from '../dist/src/log.js';
import { startProxy } from '../dist/src/server.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node bench/postern-launch.mjs <config>\n');
  process.exit(2);
}
const config = parseConfigText(readFileSync(file, 'utf8'), file);
const proxy = await startProxy(config, { logger: silentLogger() });

let eld = null;
const ms = (ns) => Math.round((ns / 1e6) * 1000) / 1000;
const reply = (m) => process.send?.(m);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  const timer = setTimeout(() => process.exit(0), 3000);
  await proxy.close().catch(() => undefined);
  clearTimeout(timer);
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.on('disconnect', shutdown);
process.on('message', (m) => {
  if (m?.type === 'eld-start') {
    eld?.disable();
    eld = monitorEventLoopDelay({ resolution: 10 });
    eld.enable();
  } else if (m?.type === 'eld-stop') {
    eld?.disable();
    const h = eld;
    reply({
      type: 'eld',
      id: m.id,
      p50: h ? ms(h.percentile(50)) : NaN,
      p99: h ? ms(h.percentile(99)) : NaN,
      max: h ? ms(h.max) : NaN,
      mean: h ? ms(h.mean) : NaN,
    });
    eld = null;
  } else if (m?.type === 'gc') {
    globalThis.gc?.();
    reply({ type: 'gc-done', id: m.id, available: typeof globalThis.gc === 'function' });
  } else if (m?.type === 'mem') {
    globalThis.gc?.();
    const { heapUsed, external, arrayBuffers, rss } = process.memoryUsage();
    reply({ type: 'mem', id: m.id, heapUsed, external, arrayBuffers, rss });
  } else if (m?.type === 'heap-snapshot') {
    reply({ type: 'heap-snapshot', id: m.id, file: writeHeapSnapshot(m.file) });
  } else if (m?.type === 'shutdown') {
    void shutdown();
  }
});
reply({ type: 'ready', pid: process.pid, ports: proxy.listeners.map((l) => l.port) });
