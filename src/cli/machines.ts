import { connectionMachine } from '../../machines/connection.js';
import { machineEdges, toDot, toMermaid } from '../diagram/export.js';
import { parseCommandArgs, usageError } from './args.js';

const USAGE = `Usage: postern machines [--format json|mermaid|dot]

Prints the connection statechart (XState v5) that every session runs.

Options:
      --format FMT    json (default: the definition and its edges), mermaid or dot
  -h, --help          this text
`;

/** `postern machines [--format json|mermaid|dot]`: the connection statechart's definition. */
export function machinesCommand(argv: string[]): number {
  const parsed = parseCommandArgs(argv, { format: { type: 'string' } }, USAGE);
  if ('exit' in parsed) return parsed.exit;
  if (parsed.positionals.length > 0) return usageError(`unexpected argument "${parsed.positionals[0]}"`, USAGE);
  const format = (parsed.values.format as string | undefined) ?? 'json';
  switch (format) {
    case 'mermaid':
      process.stdout.write(toMermaid(connectionMachine));
      return 0;
    case 'dot':
      process.stdout.write(toDot(connectionMachine));
      return 0;
    case 'json':
      process.stdout.write(`${JSON.stringify({ definition: connectionMachine.root.definition, edges: machineEdges(connectionMachine) }, null, 2)}\n`);
      return 0;
    default:
      process.stderr.write(`postern: unknown format "${format}" (json, mermaid or dot)\n`);
      return 2;
  }
}
