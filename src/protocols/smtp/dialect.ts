import { CRLF, mechanismsOf, saslChallengeText, type CapabilityView, type Dialect } from '../dialect.js';

/** The multi-line EHLO reply: name, `smtp_capabilities`, AUTH (not before TLS with `starttls only`), STARTTLS. */
function ehlo(view: CapabilityView, serverName: string): string {
  const items = [serverName, ...view.capabilities];
  const tlsRequired = view.starttls === 'only' && !view.tls;
  const mechanisms = mechanismsOf(view.authMethods);
  if (!tlsRequired && mechanisms.length > 0) items.push(`AUTH ${mechanisms.join(' ')}`);
  if (view.starttls !== 'off' && !view.tls) items.push('STARTTLS');
  return items.map((item, i) => `250${i === items.length - 1 ? ' ' : '-'}${item}${CRLF}`).join('');
}

const INVALID = `500 5.5.1 Invalid command${CRLF}`;
const INVALID_ARGUMENT = `501 5.5.4 Invalid argument${CRLF}`;
const OK = `250 2.0.0 OK${CRLF}`;

export const smtpDialect: Dialect = {
  protocol: 'smtp',
  greeting: ({ serverName }) => `220 ${serverName} ESMTP ready${CRLF}`,
  ok: () => OK,
  invalid: () => INVALID,
  refused: (reason) => (reason === 'invalidArgument' ? INVALID_ARGUMENT : INVALID),
  inputTooLong: () => INVALID,
  internalError: `451 4.3.2 Internal server error${CRLF}`,
  quit: () => `221 2.0.0 Bye${CRLF}`,
  starttlsOk: () => `220 2.0.0 Start TLS${CRLF}`,
  challenge: (step, salt) => `334 ${saslChallengeText(step, salt)}${CRLF}`,
  saslUsernameInvalid: () => INVALID,
  authFailed: (text, _tag, errorCode) => `${errorCode ?? '535 5.7.0'} ${text}${CRLF}`,
  certificateError: `421 4.7.1 SSL certificate error${CRLF}`,
  certificateMissing: `421 4.7.1 No required SSL certificate${CRLF}`,
  talkedTooSoon: `503 5.5.0 Improper use of SMTP command pipelining${CRLF}`,
  lines: {
    ehlo: (view) => ehlo(view, view.serverName),
    helo: (view) => `250 ${view.serverName}${CRLF}`,
    ok: () => OK,
    invalid: () => INVALID,
    invalidArgument: () => INVALID_ARGUMENT,
    badSequence: () => `503 5.5.1 Bad sequence of commands${CRLF}`,
    authRequired: () => `530 5.7.1 Authentication required${CRLF}`,
  },
};

/** The proxy's own answer to AUTH once the backend accepted the client (no AUTH towards it). */
export const SMTP_AUTH_SUCCEEDED = `235 2.0.0 OK${CRLF}`;
