import type { AnyTransitionDefinition } from 'xstate';
import type { ConnectionEvent } from '../../machines/types.js';
import { allStateIds, allTransitions, buildGraph, coverageOf, extend, isTimer, MODEL_CONFIGS, type ModelGraph, type Path } from './model.js';

export interface PlannedPath {
  graph: ModelGraph;
  path: Path;
  why: 'state' | 'transition';
}

export interface Plan {
  graphs: ModelGraph[];
  paths: PlannedPath[];
  transitions: Map<AnyTransitionDefinition, string>;
  covered: Set<AnyTransitionDefinition>;
  statesCovered: Set<string>;
  /** State node ids reachable in some graph (any configuration). */
  reachable: Set<string>;
}

const events = (path: Path): ConnectionEvent[] => path.steps.slice(1).map((s) => s.event);
const timers = (path: Path): number => path.steps.filter((s) => isTimer(s.event)).length;

/**
 * The paths to drive: the shortest path to every abstract state of every configuration, then,
 * greedily, "shortest path to a state + one more event" for every transition those miss
 * (preferring paths without timers, then shorter ones).
 */
export function planPaths(): Plan {
  const graphs = MODEL_CONFIGS.map(buildGraph);
  const transitions = allTransitions();
  const covered = new Set<AnyTransitionDefinition>();
  const statesCovered = new Set<string>();
  const paths: PlannedPath[] = [];
  const add = (graph: ModelGraph, path: Path, why: PlannedPath['why']) => {
    const c = coverageOf(graph.input, events(path));
    for (const t of c.transitions) covered.add(t);
    for (const s of c.states) statesCovered.add(s);
    paths.push({ graph, path, why });
    return c;
  };
  const reachable = new Set<string>();
  for (const graph of graphs) {
    for (const path of graph.shortest.values()) {
      const c = add(graph, path, 'state');
      for (const s of c.states) reachable.add(s);
    }
  }
  const candidates: Array<{ graph: ModelGraph; path: Path; gives: Set<AnyTransitionDefinition> }> = [];
  for (const graph of graphs) {
    for (const { from, event } of graph.edges) {
      const head = graph.shortest.get(from);
      if (!head) continue;
      const path = extend(graph, head, event);
      const gives = coverageOf(graph.input, events(path)).transitions;
      if ([...gives].some((t) => !covered.has(t))) candidates.push({ graph, path, gives });
    }
  }
  candidates.sort((a, b) => timers(a.path) - timers(b.path) || a.path.steps.length - b.path.steps.length);
  for (const candidate of candidates) {
    if ([...candidate.gives].some((t) => !covered.has(t))) add(candidate.graph, candidate.path, 'transition');
  }
  return { graphs, paths, transitions, covered, statesCovered, reachable };
}

export { allStateIds };
