import type { MailProtocol } from '../protocol.js';
import { pop3BackendLogin } from './backend-login.js';
import { pop3Dialect } from './dialect.js';
import { pop3Dialogue } from './dialogue.js';
import { Pop3Scanner } from './parse.js';

/** POP3's command buffer is fixed, as in nginx. */
const POP3_BUFFER = 128;

export const pop3: MailProtocol = {
  name: 'pop3',
  dialect: pop3Dialect,
  dialogue: pop3Dialogue,
  scanner: () => new Pop3Scanner(),
  settings: (server) => ({
    clientBuffer: POP3_BUFFER,
    authMethods: server.pop3Auth,
    capabilities: server.pop3Capabilities,
    greetingDelayMs: 0,
    proxySmtpAuth: false,
  }),
  backendLogin: pop3BackendLogin,
};
