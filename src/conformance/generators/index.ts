/** The protocol generators by name. */
import type { Protocol } from '../types.js';
import type { DialectGen } from './dialect.js';
import { imap } from './imap.js';
import { pop3 } from './pop3.js';
import { sieve } from './sieve.js';
import { smtp } from './smtp.js';

export type { DialectGen } from './dialect.js';
export * from './common.js';

export function dialectGen(protocol: Protocol): DialectGen {
  return { pop3, imap, smtp, sieve }[protocol];
}
