import { Secret } from '../secret.js';

/**
 * How secrets look in a journal: never their value, only the facts about it the machine acts on:
 * whether it was empty ("no password to log in to the backend with") and whether it held CR, LF
 * or NUL (credentials refused before the auth service is asked).
 */
const SECRET_KEY = '$secret';
type EncodedSecret = { [SECRET_KEY]: 'empty' | 'redacted' | 'crlf-nul' };

function encodeSecret(secret: Secret): EncodedSecret {
  if (secret.length === 0) return { [SECRET_KEY]: 'empty' };
  return { [SECRET_KEY]: secret.hasCrLfOrNul ? 'crlf-nul' : 'redacted' };
}

/** A stand-in with the same facts as the secret that was journaled. */
const REVIVED: Record<EncodedSecret[typeof SECRET_KEY], string> = {
  empty: '',
  redacted: Secret.MARKER,
  'crlf-nul': `${Secret.MARKER}\r\n`,
};

/** JSON.stringify replacer: `this[key]` is the value before its own `toJSON` ran. */
function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const original = this[key];
  if (original instanceof Secret) return encodeSecret(original);
  return value;
}

function reviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && SECRET_KEY in value) {
    return new Secret(REVIVED[(value as EncodedSecret)[SECRET_KEY]] ?? Secret.MARKER);
  }
  return value;
}

export const encodeJournalLine = (value: unknown): string => JSON.stringify(value, replacer);
export const decodeJournalLine = (line: string): unknown => JSON.parse(line, reviver);
