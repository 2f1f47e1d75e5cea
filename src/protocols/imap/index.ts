import type { MailProtocol } from '../protocol.js';
import { imapBackendLogin } from './backend-login.js';
import { imapDialect } from './dialect.js';
import { imapDialogue } from './dialogue.js';
import { ImapScanner } from './parse.js';

export const imap: MailProtocol = {
  name: 'imap',
  dialect: imapDialect,
  dialogue: imapDialogue,
  scanner: (bufferSize) => new ImapScanner(bufferSize),
  settings: (server) => ({
    clientBuffer: server.imapClientBuffer,
    authMethods: server.imapAuth,
    capabilities: server.imapCapabilities,
    greetingDelayMs: 0,
    proxySmtpAuth: false,
  }),
  backendLogin: imapBackendLogin,
};
