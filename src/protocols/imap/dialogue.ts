import { not } from '../../xstate.js';
import { say, toAuth, type Dialogue } from '../../../machines/dialogue.js';

/**
 * IMAP before authentication (nginx: src/mail/ngx_mail_imap_handler.c): CAPABILITY, LOGIN, and
 * the `+ OK` that invites a synchronising literal. STARTTLS, AUTHENTICATE, NOOP and LOGOUT are
 * the skeleton's (machines/connection.ts). Credentials travel to the backend as literals, which
 * carry any byte: nothing in them is unsafe.
 */
export const imapDialogue: Dialogue = {
  preauth: {
    'input.literal': { actions: say('literalContinuation') },
  },
  idle: {
    'cmd.capability': { actions: say('capabilities') },
    // `starttls only`: no LOGIN before TLS (falls through to the refusal).
    'cmd.login': { guard: not('tlsRequiredForAuth'), ...toAuth('plain') },
  },
  memory: {},
  needsBackendPassword: true,
};
