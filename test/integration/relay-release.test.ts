/**
 * What an idle relayed session holds: once the relay starts, the login phase's objects (the
 * command framer with its scanner and buffer, the framed-command stream and its subscription)
 * are garbage, and no XState actor was ever made (the machine runs as a snapshot), so a deployment holding relayed sessions by the ten thousand holds
 * two sockets and the session's end facts per session. Checked with weak references and forced
 * GCs (test/unit/session/collected.ts), through the real runtime: a
 * plaintext IMAP login to an in-process backend. Then the relay's end still runs as before: the
 * machine closes the session with the same log line, and the
 * journal replays to the same states and outputs.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { MailConfig } from '../../src/config/types.js';
import { memoryJournal } from '../../src/journal/record.js';
import { replayJournal } from '../../src/journal/replay.js';
import { startProxy } from '../../src/server.js';
import { collected } from '../unit/session/collected.js';
import { serverConfig } from './fixtures.js';
import { ByteClient, capturingLogger, loggedInLine, loginBackend, PASSWORD, until, USER } from './wire.js';

/** Weak references to every object of the kinds the login phase makes, in the order they were made. */
const made = vi.hoisted(() => ({ actors: [] as Array<WeakRef<object>>, framers: [] as Array<WeakRef<object>>, streams: [] as Array<WeakRef<object>> }));

vi.mock('xstate', async (importOriginal) => {
  const xstate = await importOriginal<typeof import('xstate')>();
  return {
    ...xstate,
    createActor: ((...args: Parameters<typeof xstate.createActor>) => {
      const actor = xstate.createActor(...args);
      made.actors.push(new WeakRef(actor));
      return actor;
    }) as typeof xstate.createActor,
  };
});

vi.mock('../../src/protocols/registry.js', async (importOriginal) => {
  const registry = await importOriginal<typeof import('../../src/protocols/registry.js')>();
  return {
    ...registry,
    framerFor: ((...args: Parameters<typeof registry.framerFor>) => {
      const framer = registry.framerFor(...args);
      made.framers.push(new WeakRef(framer));
      return framer;
    }) as typeof registry.framerFor,
  };
});

vi.mock('../../src/session/frame-commands.js', async (importOriginal) => {
  const framing = await importOriginal<typeof import('../../src/session/frame-commands.js')>();
  return {
    ...framing,
    frameCommands: ((...args: Parameters<typeof framing.frameCommands>) => {
      const stream = framing.frameCommands(...args);
      made.streams.push(new WeakRef(stream.commands$));
      return stream;
    }) as typeof framing.frameCommands,
  };
});

describe('an idle relayed session (in process, real runtime, IMAP plaintext)', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it('holds none of the login phase: no actor, and the framer and the command stream are collected once the relay runs; its end is logged and journaled as before', async () => {
    const backend = await loginBackend('imap');
    cleanup.push(() => backend.close());
    const journal = memoryJournal();
    const { logger, lines } = capturingLogger();
    const config: MailConfig = { file: 'test', servers: [serverConfig({ protocol: 'imap' })], notices: [], workerProcesses: 1, workerConnections: 512 };
    const auth = { request: async () => ({ status: 'ok' as const, server: '127.0.0.1', port: backend.port }) };
    const proxy = await startProxy(config, { logger, authFor: () => auth, journalFor: () => () => journal });
    cleanup.push(() => proxy.close());
    made.actors.length = made.framers.length = made.streams.length = 0;

    const client = await ByteClient.connect(proxy.listeners[0]!.port);
    cleanup.push(() => client.close());
    await client.line();
    client.send(`a1 LOGIN ${USER} ${PASSWORD}\r\n`);
    expect(await client.line()).toBe(loggedInLine('imap', 'a1'));
    await until('the backend connection', () => backend.connections.length === 1);
    const connection = backend.connections[0]!;

    // No live actor (src/session/snapshot-core.ts); one framer and one command stream, which do not outlive the relay's start.
    expect([made.actors.length, made.framers.length, made.streams.length]).toEqual([0, 1, 1]);
    const loginPhase = [...made.framers, ...made.streams];
    expect(await collected(loginPhase), 'the login phase objects after the relay started').toBe(true);

    // The relay still copies both ways.
    client.send('a2 NOOP\r\n');
    await until('the relayed command at the backend', () => connection.relayed.toString('latin1') === 'a2 NOOP\r\n');
    connection.socket.write('a2 OK done\r\n');
    expect(await client.line()).toBe('a2 OK done');

    // Its end: the machine closes the session as a live actor did.
    connection.socket.end();
    await client.closedWith();
    await until('the journal closed', () => journal.closed);
    const ended = lines.at(-1);
    expect(ended?.msg).toBe('proxied session done');
    const states = journal.entries.flatMap((entry) => (entry.kind === 'state' ? [entry.state] : []));
    expect(states.slice(-2)).toEqual(['relaying', 'closed']);
    expect(states.filter((state) => state === 'relaying')).toHaveLength(1);
    const effects = journal.entries.flatMap((entry) => (entry.kind === 'effect' ? [entry.effect] : []));
    expect(effects.at(-1)).toEqual({ type: 'close', reason: 'proxied session done (upstream closed connection)' });
    const replay = replayJournal(journal.entries);
    expect(replay.divergence, `recorded ${replay.expected}, replayed ${replay.actual}`).toBe(-1);
  });
});
