import type { SnapshotFrom } from 'xstate';
import type { ConnectionMachine } from './options.js';

type Snapshot = SnapshotFrom<ConnectionMachine>;

/**
 * What a snapshot derives from its active state nodes alone. XState makes a new state value,
 * tag set and node list at every step, and an empty `children` and `historyValue` (this chart
 * spawns no actor and has no history state): ~450 B that every idle connection would otherwise
 * hold a copy of (docs/performance.md, change 17). Snapshots whose active nodes are the same,
 * in the same order, share one copy, found through a trie keyed by the nodes themselves (no key
 * string made per step). XState only reads these parts of a snapshot it is given. The state value
 * and the empty records are frozen, so that a write anywhere throws rather than changing other
 * connections; the node list is not: XState makes a `Set` of it and filters it at every step, and
 * on a frozen array V8 takes its slow paths (+0.7 µs per step, measured).
 */
interface Configuration {
  readonly nodes: Snapshot['_nodes'];
  readonly value: Snapshot['value'];
  readonly tags: Snapshot['tags'];
}

interface ConfigurationTrie {
  next: Map<unknown, ConfigurationTrie> | null;
  configuration: Configuration | null;
}

/** The chart reaches a few dozen configurations; past this many trie entries, snapshots keep their own copies. */
const MAX_TRIE_ENTRIES = 1024;
const configurations: ConfigurationTrie = { next: null, configuration: null };
let trieEntries = 0;
/** The shared node lists (at most one per trie entry), each to its configuration. */
const byNodes = new Map<unknown, Configuration>();
const NOTHING: Readonly<Record<string, never>> = Object.freeze({});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function isEmpty(record: object): boolean {
  for (const _ in record) return false;
  return true;
}

/** Replaces the parts of `snapshot` that another snapshot with the same active nodes already holds. */
export function shareConfiguration(snapshot: Snapshot): void {
  const writable = snapshot as { -readonly [K in keyof Snapshot]: Snapshot[K] };
  if (isEmpty(snapshot.children)) writable.children = NOTHING as Snapshot['children'];
  if (isEmpty(snapshot.historyValue)) writable.historyValue = NOTHING as Snapshot['historyValue'];
  // A step that changed no state node (a command answered in place, an `assign`) keeps the node list.
  const known = byNodes.get(snapshot._nodes);
  if (known !== undefined) {
    writable.value = known.value;
    writable.tags = known.tags;
    return;
  }
  let entry = configurations;
  for (const node of snapshot._nodes) {
    let next = entry.next?.get(node);
    if (next === undefined) {
      if (trieEntries >= MAX_TRIE_ENTRIES) return;
      trieEntries++;
      next = { next: null, configuration: null };
      (entry.next ??= new Map()).set(node, next);
    }
    entry = next;
  }
  const shared = entry.configuration;
  if (shared === null) {
    entry.configuration = { nodes: snapshot._nodes, value: deepFreeze(snapshot.value), tags: snapshot.tags };
    byNodes.set(snapshot._nodes, entry.configuration);
    return;
  }
  writable._nodes = shared.nodes;
  writable.value = shared.value;
  writable.tags = shared.tags;
}
