import { Secret } from '../secret.js';

/**
 * How secrets look in a journal: never their value, only whether they were empty (the one fact
 * about a password the machine acts on: "no password to log in to the backend with").
 */
const SECRET_KEY = '$secret';
type EncodedSecret = { [SECRET_KEY]: 'empty' | 'redacted' };

/** JSON.stringify replacer: `this[key]` is the value before its own `toJSON` ran. */
function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const original = this[key];
  if (original instanceof Secret) return { [SECRET_KEY]: original.length === 0 ? 'empty' : 'redacted' } satisfies EncodedSecret;
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && SECRET_KEY in value) {
    return new Secret((value as EncodedSecret)[SECRET_KEY] === 'empty' ? '' : Secret.MARKER);
  }
  return value;
}

export const encodeJournalLine = (value: unknown): string => JSON.stringify(value, replacer);
export const decodeJournalLine = (line: string): unknown => JSON.parse(line, reviver);
