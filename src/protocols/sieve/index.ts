import type { MailProtocol } from '../protocol.js';
import { sieveBackendLogin } from './backend-login.js';
import { sieveDialect } from './dialect.js';
import { sieveDialogue } from './dialogue.js';
import { SieveScanner } from './parse.js';

/** ManageSieve (RFC 5804), a Postern extension: `protocol sieve;` (see docs/extensions.md). */
export const sieve: MailProtocol = {
  name: 'sieve',
  dialect: sieveDialect,
  dialogue: sieveDialogue,
  scanner: (bufferSize) => new SieveScanner(bufferSize),
  settings: (server) => ({
    clientBuffer: server.sieveClientBuffer,
    authMethods: server.sieveAuth,
    capabilities: server.sieveCapabilities,
    greetingDelayMs: 0,
    proxySmtpAuth: false,
  }),
  backendLogin: sieveBackendLogin,
};
