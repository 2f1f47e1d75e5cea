import type { AnyStateMachine, AnyStateNode } from 'xstate';

/** One edge of the statechart, with the names the inspector shows. */
export interface Edge {
  from: string;
  to: string | null;
  /** The other targets of a transition into several parallel regions at once (STARTTLS: the transport's and the dialogue's). */
  alsoTo: string[];
  event: string;
  guard: string | null;
  actions: string[];
}

const guardName = (guard: unknown): string | null => {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  // XState's and()/or()/not() are functions named after themselves, holding their operands.
  if (typeof guard === 'function' && 'guards' in guard) {
    const operands = (guard as { guards: unknown[] }).guards.map(guardName);
    return `${guard.name}(${operands.join(', ')})`;
  }
  if (typeof guard === 'object' && 'type' in guard) {
    const { type, params } = guard as { type: string; params?: Record<string, unknown> };
    if (type === 'xstate.not') return `not(${guardName((guard as { guards?: unknown[] }).guards?.[0])})`;
    return params ? `${type}(${Object.values(params).join(', ')})` : type;
  }
  return 'inline';
};

const actionName = (action: unknown): string => {
  if (typeof action === 'string') return action;
  if (typeof action === 'object' && action !== null && 'type' in action) return String((action as { type: string }).type);
  return 'inline';
};

/** `xstate.after.clientTimeout.connection.preauth` → `after clientTimeout`. */
const eventLabel = (eventType: string): string => {
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  return after ? `after ${after[1]}` : eventType;
};

function nodesOf(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states as Record<string, AnyStateNode>).flatMap(nodesOf)];
}

/** Every transition of the machine, in definition order. */
export function machineEdges(machine: AnyStateMachine): Edge[] {
  const edges: Edge[] = [];
  for (const node of nodesOf(machine.root)) {
    const definitions = [...node.transitions.values()].flat().concat(node.always ?? []);
    for (const t of definitions) {
      edges.push({
        from: node.id,
        to: t.target?.[0]?.id ?? null,
        alsoTo: (t.target ?? []).slice(1).map((target: AnyStateNode) => target.id),
        event: t.eventType === '' ? 'always' : eventLabel(t.eventType),
        guard: guardName(t.guard),
        actions: t.actions.map(actionName),
      });
    }
  }
  return edges;
}

const mermaidId = (id: string) => id.replace(/[.-]/g, '_');

const edgeLabel = (edge: Edge): string => {
  const guard = edge.guard ? ` [${edge.guard}]` : '';
  const actions = edge.actions.length ? ` / ${edge.actions.join(', ')}` : '';
  return `${edge.event}${guard}${actions}`.replace(/:/g, '﹕');
};

/** Mermaid `stateDiagram-v2` text of the machine, nested states as composite states. */
export function toMermaid(machine: AnyStateMachine): string {
  const lines = ['stateDiagram-v2'];
  const declare = (node: AnyStateNode, indent: string) => {
    const children = Object.values(node.states as Record<string, AnyStateNode>);
    if (children.length === 0) {
      lines.push(`${indent}state "${node.key}" as ${mermaidId(node.id)}`);
      return;
    }
    lines.push(`${indent}state "${node.key}" as ${mermaidId(node.id)} {`);
    const initial = node.initial?.target?.[0];
    if (initial) lines.push(`${indent}  [*] --> ${mermaidId(initial.id)}`);
    for (const child of children) declare(child, `${indent}  `);
    lines.push(`${indent}}`);
  };
  const rootInitial = machine.root.initial?.target?.[0];
  if (rootInitial) lines.push(`  [*] --> ${mermaidId(rootInitial.id)}`);
  for (const child of Object.values(machine.root.states as Record<string, AnyStateNode>)) declare(child, '  ');
  for (const node of nodesOf(machine.root)) if (node.type === 'final') lines.push(`  ${mermaidId(node.id)} --> [*]`);
  for (const edge of machineEdges(machine)) {
    for (const to of [edge.to ?? edge.from, ...edge.alsoTo]) lines.push(`  ${mermaidId(edge.from)} --> ${mermaidId(to)} : ${edgeLabel(edge)}`);
  }
  return lines.join('\n') + '\n';
}

/** Graphviz DOT text of the machine (clusters for compound states). */
export function toDot(machine: AnyStateMachine): string {
  const lines = ['digraph connection {', '  compound=true; rankdir=LR; node [shape=box, style=rounded];'];
  const declare = (node: AnyStateNode, indent: string) => {
    const children = Object.values(node.states as Record<string, AnyStateNode>);
    if (children.length === 0) {
      lines.push(`${indent}"${node.id}" [label="${node.key}"${node.type === 'final' ? ', peripheries=2' : ''}];`);
      return;
    }
    lines.push(`${indent}subgraph "cluster_${node.id}" {`, `${indent}  label="${node.key}";`);
    for (const child of children) declare(child, `${indent}  `);
    lines.push(`${indent}}`);
  };
  for (const child of Object.values(machine.root.states as Record<string, AnyStateNode>)) declare(child, '  ');
  const leafOf = (id: string): string => {
    let node = machine.getStateNodeById(id);
    while (Object.keys(node.states).length > 0) node = node.initial?.target?.[0] ?? Object.values(node.states as Record<string, AnyStateNode>)[0]!;
    return node.id;
  };
  for (const edge of machineEdges(machine)) {
    for (const to of [edge.to ?? edge.from, ...edge.alsoTo]) {
      lines.push(`  "${leafOf(edge.from)}" -> "${leafOf(to)}" [label="${edgeLabel(edge).replace(/"/g, '\\"')}"];`);
    }
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}
