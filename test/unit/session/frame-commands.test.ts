import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { framerFor } from '../../../src/protocols/registry.js';
import type { CommandFramer, FrameMode, Framed } from '../../../src/protocols/types.js';
import { COMMANDS_PER_TURN, frameCommands, type FramingControl } from '../../../src/session/frame-commands.js';

const tagOf = (item: Framed) => (item.type === 'command' && 'tag' in item.command ? item.command.tag : item.type);

describe('frameCommands', () => {
  it('frames chunks one command at a time, stops while the mode is null, and resumes on wake()', () => {
    const socket = new EventEmitter();
    let framer: CommandFramer | undefined;
    let made = 0;
    const framerNow = () => (framer ??= (made++, framerFor('imap', 1024)));
    let mode: FrameMode | null = 'command';
    const seen: string[] = [];
    const stream = frameCommands(socket, { framer: framerNow, mode: () => mode, held: () => false, yielding: () => undefined });
    const subscription = stream.commands$.subscribe((item) => {
      seen.push(String(tagOf(item)));
      // The consumer reacts to the first command by not reading (as while authenticating).
      if (seen.length === 1) mode = null;
    });
    expect(made).toBe(0);
    // The machine starts reading (a TLS connection's first wake-up) before any byte: no framer yet.
    stream.wake();
    expect(made).toBe(0);
    socket.emit('data', Buffer.from('a1 NOOP\r\na2 NO'));
    socket.emit('data', Buffer.from('OP\r\na3 NOOP\r\n'));
    expect(made).toBe(1);
    expect(seen).toEqual(['a1']);
    mode = 'command';
    stream.wake();
    expect(seen).toEqual(['a1', 'a2', 'a3']);
    subscription.unsubscribe();
    expect(socket.listenerCount('data')).toBe(0);
    stream.wake();
    expect(seen).toEqual(['a1', 'a2', 'a3']);
  });

  const pipeline = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => `a${i} NOOP\r\n`).join(''));

  it('frames at most COMMANDS_PER_TURN commands per turn of the event loop, pausing input meanwhile', async () => {
    const socket = new EventEmitter();
    const framer = framerFor('imap', 1024);
    const turns: boolean[] = [];
    const control: FramingControl = { framer: () => framer, mode: () => 'command', held: () => false, yielding: (y) => turns.push(y) };
    const seen: string[] = [];
    const stream = frameCommands(socket, control);
    stream.commands$.subscribe((item) => seen.push(String(tagOf(item))));
    const total = COMMANDS_PER_TURN * 3 + 5;
    socket.emit('data', pipeline(total));
    // One turn's worth, then the connection yields (the session pauses the socket).
    expect(seen).toHaveLength(COMMANDS_PER_TURN);
    expect(turns).toEqual([true]);
    // New bytes while yielding are only buffered: nothing runs ahead of the next turn.
    socket.emit('data', Buffer.from('late NOOP\r\n'));
    expect(seen).toHaveLength(COMMANDS_PER_TURN);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toHaveLength(COMMANDS_PER_TURN * 2);
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    // Everything answered, in order.
    expect(seen).toEqual([...Array.from({ length: total }, (_, i) => `a${i}`), 'late']);
    expect(turns.filter((y) => y)).toHaveLength(3);
    expect(turns.at(-1)).toBe(false);
  });

  it('frames nothing while the replies are held, and resumes on wake()', () => {
    const socket = new EventEmitter();
    const framer = framerFor('imap', 1024);
    let held = false;
    const seen: string[] = [];
    const stream = frameCommands(socket, { framer: () => framer, mode: () => 'command', held: () => held, yielding: () => undefined });
    stream.commands$.subscribe((item) => {
      seen.push(String(tagOf(item)));
      if (seen.length === 2) held = true;
    });
    socket.emit('data', pipeline(5));
    expect(seen).toEqual(['a0', 'a1']);
    held = false;
    stream.wake();
    expect(seen).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
  });

  it('hands a framing fault to the subscriber as an error instead of throwing into the socket', () => {
    const socket = new EventEmitter();
    const broken: CommandFramer = {
      push: () => undefined,
      next: () => {
        throw new Error('scanner bug');
      },
      takeRemainder: () => Buffer.alloc(0),
      buffered: 0,
    } as unknown as CommandFramer;
    const errors: unknown[] = [];
    const stream = frameCommands(socket, { framer: () => broken, mode: () => 'command', held: () => false, yielding: () => undefined });
    stream.commands$.subscribe({ error: (e) => errors.push(e) });
    expect(() => socket.emit('data', Buffer.from('x\r\n'))).not.toThrow();
    expect(errors).toHaveLength(1);
  });
});
