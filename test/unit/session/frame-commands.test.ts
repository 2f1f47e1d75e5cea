import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createFramer } from '../../../src/protocols/framer.js';
import type { CommandFramer, FrameMode, Framed } from '../../../src/protocols/types.js';
import { frameCommands } from '../../../src/session/frame-commands.js';

const tagOf = (item: Framed) => (item.type === 'command' && 'tag' in item.command ? item.command.tag : item.type);

describe('frameCommands', () => {
  it('frames chunks one command at a time, stops while the mode is null, and resumes on wake()', () => {
    const socket = new EventEmitter();
    let framer: CommandFramer | undefined;
    let made = 0;
    const framerNow = () => (framer ??= (made++, createFramer('imap', { bufferSize: 1024 })));
    let mode: FrameMode | null = 'command';
    const seen: string[] = [];
    const stream = frameCommands(socket, framerNow, () => mode);
    const subscription = stream.commands$.subscribe((item) => {
      seen.push(String(tagOf(item)));
      // The consumer reacts to the first command by not reading (as while authenticating).
      if (seen.length === 1) mode = null;
    });
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
});
