import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { ConnectionEvent } from '../../../machines/types.js';
import { framerFor } from '../../../src/protocols/registry.js';
import type { CommandFramer } from '../../../src/protocols/types.js';
import { ClientInput, type InputSink } from '../../../src/session/client-input.js';
import type { MachineCore } from '../../../src/session/machine-core.js';

/** A ClientInput on a stream standing in for the client's socket, a machine that always reads, and what reaches the sink. */
function setUp() {
  const transport = new PassThrough();
  const core = { frameMode: () => 'command', saslStep: () => null } as unknown as MachineCore;
  const sent: ConnectionEvent[] = [];
  const failures: unknown[] = [];
  let framer: CommandFramer | undefined;
  const sink: InputSink = {
    framer: () => (framer ??= framerFor('imap', 1024)),
    send: (event) => sent.push(event),
    fail: (error) => failures.push(error),
    saslRejected: () => undefined,
  };
  const input = new ClientInput(transport as unknown as Socket, core, sink);
  const tags = () => sent.map((event) => `${event.type} ${'tag' in event ? String(event.tag) : ''}`);
  return { transport, input, sent, failures, tags };
}

describe('ClientInput, its own subscriber to the framed commands', () => {
  it('delivers framed commands, then nothing once stopped, and removes its data listener once', () => {
    const { transport, input, tags } = setUp();
    expect(transport.listenerCount('data')).toBe(1);
    transport.emit('data', Buffer.from('a1 NOOP\r\na2 NOOP\r\n'));
    expect(tags()).toEqual(['cmd.noop a1', 'cmd.noop a2']);
    input.stop();
    expect(input.closed).toBe(true);
    // The framing loop's teardown ran: the socket is no longer read for this input.
    expect(transport.listenerCount('data')).toBe(0);
    transport.emit('data', Buffer.from('a3 NOOP\r\n'));
    // A late item from the source is not delivered either.
    input.next({ type: 'command', command: { name: 'NOOP', tag: 'a4' } } as never);
    expect(tags()).toEqual(['cmd.noop a1', 'cmd.noop a2']);
    // Stopping again runs nothing twice.
    input.stop();
    expect(transport.listenerCount('data')).toBe(0);
  });

  it('a framing fault fails the session once and stops the input', () => {
    const { transport, input, failures } = setUp();
    const fault = new Error('framer broke');
    input.error(fault);
    input.error(new Error('second'));
    expect(failures).toEqual([fault]);
    expect(input.closed).toBe(true);
    expect(transport.listenerCount('data')).toBe(0);
  });

  it('a teardown added after the close runs at once; a second source is refused', () => {
    const { input } = setUp();
    expect(() => input.add(() => undefined)).toThrow(/one source/);
    input.stop();
    let ran = 0;
    input.add(() => ran++);
    expect(ran).toBe(1);
  });
});
