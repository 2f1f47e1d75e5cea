import type { Protocol } from '../../../src/config/types.js';
import { framerFor } from '../../../src/protocols/registry.js';
import type { Command, CommandFramer, FrameMode, Framed } from '../../../src/protocols/types.js';
import { Secret } from '../../../src/secret.js';

/** A Framed item with every Secret replaced by `secret:<value>`, so equality is meaningful. */
export type Plain = Record<string, unknown>;

export function plain(item: Framed): Plain {
  if (item.type !== 'command') return { ...item };
  const out: Plain = { type: 'command' };
  const command: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item.command as Command)) {
    command[key] = value instanceof Secret ? `secret:${value.reveal()}` : value;
  }
  out.command = command;
  return out;
}

export const cmd = (command: Record<string, unknown>): Plain => ({ type: 'command', command });

export type ModeFn = (previous: Framed | undefined) => FrameMode;

/** Every line read as a command; tests that need SASL lines pass `sasl` or their own function. */
export const commandMode: ModeFn = () => 'command';

/** Drains the framer: calls next() until undefined. */
export function drain(framer: CommandFramer, out: Framed[], mode: ModeFn): void {
  for (;;) {
    const item = framer.next(mode(out[out.length - 1]));
    if (item === undefined) return;
    out.push(item);
  }
}

export function toBuffer(input: string | Buffer): Buffer {
  return typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
}

/** Frames `input` pushed as the given chunks (default: one chunk), returning plain items. */
export function frame(
  protocol: Protocol,
  input: string | Buffer | Array<string | Buffer>,
  options: { bufferSize?: number; mode?: ModeFn } = {},
): Plain[] {
  const bufferSize = options.bufferSize ?? (protocol === 'pop3' ? 128 : 4096);
  const framer = framerFor(protocol, bufferSize);
  const chunks = Array.isArray(input) ? input : [input];
  const out: Framed[] = [];
  for (const chunk of chunks) {
    framer.push(toBuffer(chunk));
    drain(framer, out, options.mode ?? commandMode);
  }
  return out.map(plain);
}

/** The single command a one-line input frames to. */
export function one(protocol: Protocol, line: string | Buffer, options: { bufferSize?: number; mode?: ModeFn } = {}): Plain {
  const items = frame(protocol, line, options);
  if (items.length !== 1) throw new Error(`expected one item, got ${JSON.stringify(items)}`);
  return items[0]!;
}

export const sasl: ModeFn = () => 'sasl';
