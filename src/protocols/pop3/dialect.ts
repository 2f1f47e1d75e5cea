import { CRLF, saslChallengeText, type CapabilityView, type Dialect } from '../dialect.js';

const OK = `+OK${CRLF}`;
const INVALID = `-ERR invalid command${CRLF}`;

/** SASL mechanisms in nginx's fixed order; `plain` enables both PLAIN and LOGIN. */
function saslMechanisms(authMethods: readonly string[]): string[] {
  const mechanisms: string[] = [];
  if (authMethods.includes('plain')) mechanisms.push('PLAIN', 'LOGIN');
  if (authMethods.includes('cram-md5')) mechanisms.push('CRAM-MD5');
  if (authMethods.includes('external')) mechanisms.push('EXTERNAL');
  return mechanisms;
}

function capabilities(view: CapabilityView): string {
  const lines = ['+OK Capability list follows'];
  const tlsRequired = view.starttls === 'only' && !view.tls;
  if (tlsRequired) {
    // Before TLS in `starttls only` mode nothing that carries credentials is advertised.
    lines.push(...view.capabilities.filter((cap) => cap.toUpperCase() !== 'USER'), 'STLS');
  } else {
    lines.push(...view.capabilities, ['SASL', ...saslMechanisms(view.authMethods)].join(' '));
    if (view.starttls === 'on' && !view.tls && !view.afterUser) lines.push('STLS');
  }
  lines.push('.');
  return lines.join(CRLF) + CRLF;
}

export const pop3Dialect: Dialect = {
  protocol: 'pop3',
  greeting: ({ salt, authMethods }) =>
    authMethods.includes('apop') || authMethods.includes('cram-md5')
      ? `+OK POP3 ready ${salt}${CRLF}`
      : `+OK POP3 ready${CRLF}`,
  ok: () => OK,
  invalid: () => INVALID,
  refused: () => INVALID,
  inputTooLong: () => INVALID,
  internalError: `-ERR internal server error${CRLF}`,
  quit: () => OK,
  starttlsOk: () => OK,
  challenge: (step, salt) => `+ ${saslChallengeText(step, salt)}${CRLF}`,
  saslUsernameInvalid: () => INVALID,
  authFailed: (text) => `-ERR ${text}${CRLF}`,
  certificateError: `-ERR SSL certificate error${CRLF}`,
  certificateMissing: `-ERR No required SSL certificate${CRLF}`,
  lines: {
    capabilities,
    /** Bare `AUTH`. */
    authList: (view) => ['+OK methods supported:', ...saslMechanisms(view.authMethods), '.'].join(CRLF) + CRLF,
    userOk: () => OK,
  },
};
