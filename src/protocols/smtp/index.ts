import type { MailProtocol } from '../protocol.js';
import { smtpBackendLogin } from './backend-login.js';
import { smtpDialect } from './dialect.js';
import { smtpDialogue } from './dialogue.js';
import { SmtpScanner } from './parse.js';

export const smtp: MailProtocol = {
  name: 'smtp',
  dialect: smtpDialect,
  dialogue: smtpDialogue,
  scanner: () => new SmtpScanner(),
  settings: (server) => ({
    clientBuffer: server.smtpClientBuffer,
    authMethods: server.smtpAuth,
    capabilities: server.smtpCapabilities,
    greetingDelayMs: server.smtpGreetingDelayMs,
    proxySmtpAuth: server.proxySmtpAuth,
    ...(server.resolver === undefined ? {} : { resolver: server.resolver }),
  }),
  backendLogin: smtpBackendLogin,
};
