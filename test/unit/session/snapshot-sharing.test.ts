/**
 * The snapshot core shares what a snapshot derives from its active state nodes (state value,
 * tags, node list) and its empty `children`/`historyValue` between connections in the same
 * configuration (src/session/shared-configuration.ts, used by the snapshot core): an idle connection then
 * holds ~450 B less. Shared parts must be the same objects across connections, distinct between
 * configurations, and frozen where a write is easy to make by mistake (the state value, the
 * empty records), so that no connection can change another's.
 */
import { describe, expect, it } from 'vitest';
import type { SnapshotFrom } from 'xstate';
import { connectionMachine } from '../../../machines/connection.js';
import type { ConnectionEvent, ConnectionInput } from '../../../machines/types.js';
import type { ConnectionMachine } from '../../../src/session/options.js';
import { shareConfiguration } from '../../../src/session/shared-configuration.js';
import { snapshotCore } from '../../../src/session/snapshot-core.js';
import { settings } from '../../machines/helpers.js';

type Snapshot = SnapshotFrom<ConnectionMachine>;

/** A core over the real chart whose snapshots the test sees (the last one each core made). */
function watchedCore(input: ConnectionInput) {
  const made: Snapshot[] = [];
  const machine = Object.create(connectionMachine, {
    getInitialSnapshot: {
      value: (...args: Parameters<ConnectionMachine['getInitialSnapshot']>) => {
        const snapshot = connectionMachine.getInitialSnapshot(...args);
        made.push(snapshot);
        return snapshot;
      },
    },
    transition: {
      value: (...args: Parameters<ConnectionMachine['transition']>) => {
        const snapshot = connectionMachine.transition(...args);
        made.push(snapshot);
        return snapshot;
      },
    },
  }) as ConnectionMachine;
  const core = snapshotCore(input, { effect: () => undefined, changed: () => undefined, failed: (error) => { throw error; } }, { machine });
  return { core, last: () => made[made.length - 1]! };
}

const USER: ConnectionEvent = { type: 'cmd.user', user: 'alice' } as ConnectionEvent;

describe('snapshots share what their active state nodes determine', () => {
  it('two connections in the same state hold one state value, tag set and node list', () => {
    const a = watchedCore(settings('pop3'));
    const b = watchedCore(settings('pop3', { timeoutMs: 3000 }));
    a.core.start();
    b.core.start();
    const [sa, sb] = [a.last(), b.last()];
    expect(sb.value).toEqual({ preauth: { transport: 'plaintext', dialogue: 'idle' } });
    expect(sb.value).toBe(sa.value);
    expect(sb.tags).toBe(sa.tags);
    expect(sb._nodes).toBe(sa._nodes);
    expect(sb.children).toBe(sa.children);
    expect(sb.historyValue).toBe(sa.historyValue);
    // The context is each connection's own.
    expect(sb.context).not.toBe(sa.context);
    expect(sb.context.settings.timeoutMs).toBe(3000);
    a.core.stop();
    b.core.stop();
  });

  it('another configuration has its own parts, and the machine goes on from a shared snapshot', () => {
    const a = watchedCore(settings('pop3'));
    const b = watchedCore(settings('pop3'));
    a.core.start();
    b.core.start();
    b.core.send(USER);
    const [sa, sb] = [a.last(), b.last()];
    expect(sb.value).not.toEqual(sa.value);
    expect(sb.value).not.toBe(sa.value);
    expect(sb._nodes).not.toBe(sa._nodes);
    expect(sb.hasTag('readsInput')).toBe(true);
    // A third connection reaching b's state gets b's parts.
    const c = watchedCore(settings('pop3'));
    c.core.start();
    c.core.send(USER);
    expect(c.last().value).toBe(sb.value);
    for (const { core } of [a, b, c]) core.stop();
  });

  it('the shared parts are frozen: a write throws instead of reaching other connections', () => {
    const a = watchedCore(settings('imap'));
    const b = watchedCore(settings('imap'));
    a.core.start();
    b.core.start();
    const shared = b.last();
    expect(shared.value).toBe(a.last().value);
    expect(() => {
      (shared.value as Record<string, Record<string, string>>).preauth!.dialogue = 'greeting';
    }).toThrow(TypeError);
    expect(() => {
      (shared.children as Record<string, unknown>).x = 1;
    }).toThrow(TypeError);
    expect(a.last().value).toEqual({ preauth: { transport: 'plaintext', dialogue: 'idle' } });
    a.core.stop();
    b.core.stop();
  });

  it('a snapshot XState made with children or history keeps its own', () => {
    const { core, last } = watchedCore(settings('pop3'));
    core.start();
    const snapshot = { ...last(), children: { child: {} }, historyValue: { node: [] } } as unknown as Snapshot;
    shareConfiguration(snapshot);
    expect(snapshot.children).toEqual({ child: {} });
    expect(snapshot.historyValue).toEqual({ node: [] });
    expect(snapshot.value).toBe(last().value);
    core.stop();
  });
});
