import { CRLF, mechanismsOf, saslChallengeText, type CapabilityView, type Dialect } from '../dialect.js';

/** `tag` as received, or `*` when no valid tag was parsed. */
const tagged = (tag: string | undefined): string => (tag === undefined ? '*' : tag);

const authCapabilities = (authMethods: readonly string[]): string[] => mechanismsOf(authMethods).map((mechanism) => `AUTH=${mechanism}`);

function capabilityItems(view: CapabilityView): string[] {
  if (view.tls || view.starttls === 'off') return [...view.capabilities, ...authCapabilities(view.authMethods)];
  if (view.starttls === 'on') return [...view.capabilities, ...authCapabilities(view.authMethods), 'STARTTLS'];
  return [...view.capabilities, 'STARTTLS', 'LOGINDISABLED'];
}

const completed = (tag: string | undefined): string => `${tagged(tag)} OK completed${CRLF}`;
const invalid = (tag: string | undefined): string => `${tagged(tag)} BAD invalid command${CRLF}`;

export const imapDialect: Dialect = {
  protocol: 'imap',
  greeting: () => `* OK IMAP4 ready${CRLF}`,
  ok: completed,
  invalid,
  refused: (_reason, tag) => invalid(tag),
  inputTooLong: invalid,
  internalError: `* BAD internal server error${CRLF}`,
  quit: (tag) => `* BYE${CRLF}${completed(tag)}`,
  starttlsOk: completed,
  challenge: (step, salt) => `+ ${saslChallengeText(step, salt)}${CRLF}`,
  saslUsernameInvalid: () => `BAD invalid command${CRLF}`,
  authFailed: (text, tag) => `${tagged(tag)} NO ${text}${CRLF}`,
  certificateError: `* BYE SSL certificate error${CRLF}`,
  certificateMissing: `* BYE No required SSL certificate${CRLF}`,
  lines: {
    capabilities: (view, tag) => `* CAPABILITY ${capabilityItems(view).join(' ')}${CRLF}${completed(tag)}`,
    /** A synchronising literal `{N}` was announced: the client may send its bytes. */
    literalContinuation: () => `+ OK${CRLF}`,
  },
};
