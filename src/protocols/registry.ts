import type { Protocol } from '../config/types.js';
import { createFramer } from './framer.js';
import { imap } from './imap/index.js';
import type { MailProtocol } from './protocol.js';
import { pop3 } from './pop3/index.js';
import { sieve } from './sieve/index.js';
import { smtp } from './smtp/index.js';
import type { CommandFramer } from './types.js';

/** Every protocol this build serves, by the name `protocol` gives it in a server block. */
export const mailProtocols: Readonly<Record<Protocol, MailProtocol>> = { pop3, imap, smtp, sieve };

export const protocolFor = (name: Protocol): MailProtocol => mailProtocols[name];

/** The command framer for one connection of `name`, commands bounded by `bufferSize` bytes. */
export const framerFor = (name: Protocol, bufferSize: number): CommandFramer => createFramer(protocolFor(name).scanner(bufferSize), bufferSize);
