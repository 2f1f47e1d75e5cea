import { connectionMachine } from '../../machines/connection.js';
import { toMermaid } from './export.js';

export const MACHINE_SECTION = 'connection-machine';

/** The Mermaid block docs/architecture.md carries between its section markers. */
export function machineDiagramSection(): string {
  return ['```mermaid', toMermaid(connectionMachine).trimEnd(), '```'].join('\n');
}

const markers = (name: string) => [`<!-- generated:${name}:start -->`, `<!-- generated:${name}:end -->`] as const;

/** The generated text between a document's markers, or null when the markers are missing. */
export function readSection(text: string, name: string): string | null {
  const [start, end] = markers(name);
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) return null;
  return text.slice(from + start.length, to).trim();
}

export function replaceSection(text: string, name: string, content: string): string {
  const [start, end] = markers(name);
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`markers for "${name}" not found`);
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`;
}
