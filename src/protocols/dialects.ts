import type { Protocol } from '../config/types.js';
import type { Dialect } from './dialect.js';
import { imapDialect } from './imap/dialect.js';
import { pop3Dialect } from './pop3/dialect.js';
import { smtpDialect } from './smtp/dialect.js';

const dialects: Partial<Record<Protocol, Dialect>> = { pop3: pop3Dialect, imap: imapDialect, smtp: smtpDialect };

/** Protocols this build can serve; the runtime refuses a configuration naming another. */
export const supportedProtocols = Object.keys(dialects) as Protocol[];

export function dialectFor(protocol: Protocol): Dialect {
  const found = dialects[protocol];
  if (!found) throw new Error(`protocol "${protocol}" is not supported yet`);
  return found;
}
