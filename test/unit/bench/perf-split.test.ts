import { describe, expect, it } from 'vitest';
import { splitPerfScript } from '../../../bench/perf-split.js';

/** One sample as `perf script -F comm,tid,ip,sym,dso` prints it: a header, then the stack, leaf first. */
const sample = (...frames: string[]) => `node  4242 \n${frames.map((f, i) => `\t${(0x1000 + i).toString(16)} ${f}`).join('\n')}\n\n`;
const XSTATE = 'JS:*getAllStateNodes /srv/postern/node_modules/xstate/dist/raise-9de11213.cjs.js:1578:26 (/tmp/perf-4242.map)';
const POSTERN = 'JS:*onData file:///srv/postern/dist/src/proxy/backend-login.js:92:24 (/tmp/perf-4242.map)';
const NODE = 'JS:*writeGeneric node:internal/stream_base_commons:147:22 (/tmp/perf-4242.map)';

describe('bench/perf-split: a sample is charged to the JavaScript frame nearest its leaf', () => {
  it('charges builtins and system calls to the JavaScript that made them, cryptography and collection as such', () => {
    const text = [
      sample('Builtins_SetConstructor (/usr/bin/node)', XSTATE, POSTERN), // XState's new Set()
      sample('tcp_sendmsg_locked ([kernel.kallsyms])', NODE, POSTERN), // a write: Node's stream code
      sample('malloc (/usr/lib/x86_64-linux-gnu/libc.so.6)', POSTERN, XSTATE), // Postern's code called from an XState action
      sample('ossl_rsaz_amm52x20_x2_256 (/usr/bin/node)', 'node::crypto::TLSWrap::ClearIn (/usr/bin/node)', NODE), // signing, whoever asked
      sample('v8::internal::Scavenger::ScavengeObject<v8::internal::FullHeapObjectSlot> (/usr/bin/node)', POSTERN),
      sample('v8::internal::compiler::GraphReducer::ReduceTop (/usr/bin/node)'),
      sample('uv__io_poll (/usr/bin/node)', 'uv_run (/usr/bin/node)'), // the event loop, no JavaScript
    ].join('');
    const { samples, shares } = splitPerfScript(text);
    expect(samples).toBe(7);
    expect(shares['statechart (XState)']).toBeCloseTo(1 / 7);
    expect(shares["Node's JavaScript (streams, sockets, timers, TLS set-up)"]).toBeCloseTo(1 / 7);
    expect(shares["Postern's JavaScript"]).toBeCloseTo(1 / 7);
    expect(shares['OpenSSL cryptography']).toBeCloseTo(1 / 7);
    expect(shares['garbage collection']).toBeCloseTo(1 / 7);
    expect(shares["V8's optimising compiler"]).toBeCloseTo(1 / 7);
    expect(shares['native, no JavaScript on the stack (event loop, TLS I/O)']).toBeCloseTo(1 / 7);
  });

  it('reads nothing from an empty script', () => {
    expect(splitPerfScript('').samples).toBe(0);
  });
});
