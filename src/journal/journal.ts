import type { ConnectionEffect, ConnectionEvent, ConnectionInput } from '../../machines/types.js';

/**
 * One connection's journal, one JSON object per line:
 *   {"kind":"input","input":{...}}                         the machine's input (no secret in it)
 *   {"kind":"event","t":12.5,"event":{...}}                 every event the machine was sent
 *   {"kind":"effect","t":12.6,"effect":{...}}               every effect it emitted
 *   {"kind":"state","t":12.6,"state":"preauth.transport.plaintext,preauth.dialogue.idle"}   every state it entered
 * `t` is milliseconds since the connection started. Replaying the events (with a simulated clock
 * advanced to each `t`) into a fresh machine must give the same effects and states, in order.
 */
export type JournalEntry =
  | { kind: 'input'; input: ConnectionInput }
  | { kind: 'event'; t: number; event: ConnectionEvent }
  | { kind: 'effect'; t: number; effect: ConnectionEffect }
  | { kind: 'state'; t: number; state: string };

/**
 * The state value as one dotted path per active leaf, joined by commas:
 * `preauth.transport.secure,preauth.dialogue.saslPlain`, `authenticating`.
 */
export function stateKey(value: unknown): string {
  return leafPaths(value).join(',');
}

function leafPaths(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value === null || typeof value !== 'object') return [String(value)];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => leafPaths(child).map((leaf) => `${key}.${leaf}`));
}
