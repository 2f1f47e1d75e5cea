import { say, type Dialogue } from '../../../machines/dialogue.js';

/**
 * ManageSieve before authentication (RFC 5804 §2): CAPABILITY is its own, and the refusal of
 * AUTHENTICATE before TLS under `starttls only`; STARTTLS,
 * AUTHENTICATE (PLAIN, LOGIN, CRAM-MD5, EXTERNAL), NOOP and LOGOUT are the skeleton's
 * (machines/connection.ts). The backend login sends `AUTHENTICATE "PLAIN"` with the password.
 */
export const sieveDialogue: Dialogue = {
  idle: {
    'cmd.capability': { actions: say('capabilities') },
    // Before the shared AUTHENTICATE handling: ManageSieve names the reason for the refusal.
    'cmd.authenticate': { guard: 'tlsRequiredForAuth', actions: say('encryptNeeded') },
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
