import { check, say, type Dialogue } from '../../../machines/dialogue.js';

const closeBecause = (reason: string) => ({ type: 'setCloseReason', params: { reason } }) as const;

/**
 * ManageSieve before authentication (RFC 5804 §2): CAPABILITY is its own, and the refusal of
 * AUTHENTICATE before TLS under `starttls only`; STARTTLS,
 * AUTHENTICATE (PLAIN, LOGIN, CRAM-MD5, EXTERNAL), NOOP and LOGOUT are the skeleton's
 * (machines/connection.ts). The backend login sends `AUTHENTICATE "PLAIN"` with the password.
 * Where the connection closes on a bad command (the invalid command that reaches `max_errors`,
 * an invalid line announcing a literal) ManageSieve says `BYE` (RFC 5804 §1.3) instead of the
 * skeleton's invalid-command line: the same transitions with sieve's lines. Input too long for
 * the buffer is the skeleton's, closing with the dialect's `inputTooLong` line.
 */
export const sieveDialogue: Dialogue = {
  idle: {
    'cmd.capability': { actions: say('capabilities') },
    // Before the shared AUTHENTICATE handling: ManageSieve names the reason for the refusal.
    'cmd.authenticate': { guard: 'tlsRequiredForAuth', actions: say('encryptNeeded') },
    'cmd.invalid': [
      {
        guard: check('announcesLiteral'),
        target: '#connection.closed',
        actions: ['countError', say('invalidClosing'), closeBecause('client sent too many invalid commands')],
      },
      {
        guard: 'invalidEndsSession',
        target: '#connection.closed',
        actions: ['countError', say('tooManyInvalid'), closeBecause('client sent too many invalid commands')],
      },
    ],
  },
  guards: {
    /** An invalid line ending in a literal header: its literal must not be read as commands. */
    announcesLiteral: ({ event }) => event.type === 'cmd.invalid' && event.closeAfter === true,
  },
  memory: {},
  needsBackendPassword: true,
  /**
   * The PLAIN message to the backend separates user and password with NUL: a user holding NUL
   * would move the boundary. The password may hold any byte (it is the rest of the message),
   * and base64 carries CR and LF.
   */
  unsafeCredentials: (_settings, user) => (user.includes('\0') ? 'login with NUL' : null),
};
