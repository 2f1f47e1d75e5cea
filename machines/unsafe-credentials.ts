import { hasCrLfOrNul, type Secret } from '../src/secret.js';
import type { ConnectionInput } from './types.js';

/**
 * Credentials the backend login would write into its commands so that they say something else
 * (issue 10; beyond nginx 1.22.1, which copies them as they are). Refused before the auth
 * service is asked; what is wrong, for the log line (never the value), or null.
 *
 * - POP3 writes login and password raw into `USER` and `PASS` lines: CR and LF would end the
 *   line and start commands of the client's choosing, NUL cuts it short at many servers.
 * - SMTP with `proxy_smtp_auth` sends `AUTH PLAIN` of `NUL login NUL password`: a NUL in the login
 *   moves the field boundaries. Base64 carries CR and LF safely, and XCLIENT's `LOGIN=` is xtext.
 * - IMAP sends login and password as literals, which carry any byte.
 */
export function unsafeCredentials(settings: ConnectionInput, user: string, password: Secret): string | null {
  switch (settings.protocol) {
    case 'pop3':
      if (hasCrLfOrNul(user)) return 'login with CR, LF or NUL';
      return password.hasCrLfOrNul ? 'password with CR, LF or NUL' : null;
    case 'smtp':
      return settings.proxySmtpAuth && user.includes('\0') ? 'login with NUL' : null;
    case 'imap':
      return null;
  }
}
