import { and, not } from '../../xstate.js';
import { check, refuse, say, saslToAuth, toAuth, unsafe, type Dialogue } from '../../../machines/dialogue.js';
import { hasCrLfOrNul } from '../../secret.js';

/**
 * POP3 before authentication (nginx: src/mail/ngx_mail_pop3_handler.c): CAPA, USER then PASS,
 * APOP, bare AUTH listing the mechanisms. STLS, AUTH <mechanism>, NOOP and QUIT are the
 * skeleton's (machines/connection.ts).
 */
export const pop3Dialogue: Dialogue = {
  idle: {
    'cmd.capability': { actions: say('capabilities') },
    // `starttls only`: nothing carrying credentials before TLS (falls through to the refusal).
    'cmd.user': { guard: not('tlsRequiredForAuth'), target: 'user', actions: ['rememberUser', say('userOk')] },
    'cmd.apop': [
      { guard: and([check('apopAllowed'), unsafe('apop')]), ...refuse('apop') },
      { guard: check('apopAllowed'), ...toAuth('apop') },
    ],
    'cmd.authList': { guard: not('tlsRequiredForAuth'), actions: say('authList') },
  },
  states: {
    /** After USER: only PASS, CAPA, NOOP and QUIT keep the state. */
    user: {
      on: {
        'cmd.pass': saslToAuth('plain'),
        'cmd.capability': { actions: say('capabilities', { afterUser: true }) },
      },
    },
  },
  guards: {
    apopAllowed: ({ settings, tls }) => settings.authMethods.includes('apop') && !(settings.starttls === 'only' && !tls),
  },
  memory: {},
  needsBackendPassword: true,
  /**
   * The backend login writes login and password raw into `USER` and `PASS` lines: CR and LF would
   * end the line and start commands of the client's choosing, NUL cuts it short at many servers.
   */
  unsafeCredentials: (_settings, user, password) => {
    if (hasCrLfOrNul(user)) return 'login with CR, LF or NUL';
    return password.hasCrLfOrNul ? 'password with CR, LF or NUL' : null;
  },
};
