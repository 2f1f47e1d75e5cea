/**
 * A server's secure contexts, built once per load (start, reload, `postern -t`) from the options
 * secure-context.ts read and checked: its own and one per `postern_ssl_sni_certificate`. The
 * listeners serve these very contexts (tls-endpoint.ts); nothing builds them again.
 */
import { constants } from 'node:crypto';
import tls from 'node:tls';
import { ConfigError } from '../config/errors.js';
import type { ServerConfig } from '../config/types.js';
import { openSslReason, serverTls, type ServerTls } from './secure-context.js';
import type { SniEntry } from './sni.js';
import { useTicketKeys } from './ticket-key-callback.js';
import { fitsNodeTicketKeys, nodeTicketKeys, type TicketKey } from './ticket-keys.js';
import { tlsFiles, type TlsFiles } from './tls-files.js';

/** What a server's TLS endpoint serves. */
export interface ServerContexts {
  /** The context of the server's own certificates. */
  context: tls.SecureContext;
  /** The SNI certificates' contexts, by server name pattern. */
  sni: SniEntry[];
  /** Whether session tickets are issued (`ssl_session_tickets`, after `ssl_conf_command`). */
  ticketsOn: boolean;
  /** Whether TLS 1.3 is offered. */
  offersTls13: boolean;
}

/**
 * Builds the server's context and its SNI certificates' contexts, each once, with the session
 * ticket keys installed (every name must encrypt and decrypt tickets with the same keys: OpenSSL
 * handles a ticket in the context the SNI name selected). A context Node.js refuses is a
 * ConfigError at the certificate's directive.
 */
export function buildServerContexts(plan: Pick<ServerTls, 'options' | 'sni' | 'where'>, ticketKeys: readonly TicketKey[]): ServerContexts {
  // One 48-byte key fits Node's public `ticketKeys`; several, or an 80-byte file's, need the callback.
  const publicKeys = ticketKeys.length === 1 && fitsNodeTicketKeys(ticketKeys[0]!) ? nodeTicketKeys(ticketKeys[0]!) : undefined;
  const build = (options: tls.SecureContextOptions, where: ServerTls['where']): tls.SecureContext => {
    let context: tls.SecureContext;
    try {
      context = tls.createSecureContext(publicKeys === undefined ? options : { ...options, ticketKeys: publicKeys });
    } catch (error) {
      throw ConfigError.at(`cannot use the TLS settings: ${openSslReason(error)}`, where);
    }
    if (ticketKeys.length > 0 && publicKeys === undefined) useTicketKeys(context, ticketKeys);
    return context;
  };
  return {
    context: build(plan.options, plan.where),
    sni: plan.sni.map((entry) => ({ pattern: entry.pattern, context: build(entry.options, entry.where) })),
    ticketsOn: ((plan.options.secureOptions ?? 0) & constants.SSL_OP_NO_TICKET) === 0,
    offersTls13: (plan.options.maxVersion ?? 'TLSv1.3') === 'TLSv1.3',
  };
}

/**
 * What `postern -t` checks for a server that uses TLS: its files read and checked (serverTls)
 * and its contexts built once, as a start would build them; returns the warnings. `files` is
 * the load's reader, shared by all its servers.
 */
export function checkSsl(server: ServerConfig, files: TlsFiles = tlsFiles()): string[] {
  const plan = serverTls(server, files);
  buildServerContexts(plan, []);
  return plan.warnings;
}
