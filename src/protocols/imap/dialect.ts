import { CRLF, saslChallengeText, type CapabilityView, type Dialect } from '../dialect.js';

/** `tag` as received, or `*` when no valid tag was parsed. */
const tagged = (tag: string | undefined): string => (tag === undefined ? '*' : tag);

function authCapabilities(authMethods: readonly string[]): string[] {
  const items: string[] = [];
  if (authMethods.includes('plain')) items.push('AUTH=PLAIN');
  if (authMethods.includes('login')) items.push('AUTH=LOGIN');
  if (authMethods.includes('cram-md5')) items.push('AUTH=CRAM-MD5');
  if (authMethods.includes('external')) items.push('AUTH=EXTERNAL');
  return items;
}

function capabilityItems(view: CapabilityView): string[] {
  if (view.tls || view.starttls === 'off') return [...view.capabilities, ...authCapabilities(view.authMethods)];
  if (view.starttls === 'on') return [...view.capabilities, ...authCapabilities(view.authMethods), 'STARTTLS'];
  return [...view.capabilities, 'STARTTLS', 'LOGINDISABLED'];
}

const completed = (tag: string | undefined): string => `${tagged(tag)} OK completed${CRLF}`;

export const imapDialect: Dialect = {
  protocol: 'imap',
  greeting: () => `* OK IMAP4 ready${CRLF}`,
  ok: completed,
  invalid: (tag) => `${tagged(tag)} BAD invalid command${CRLF}`,
  internalError: `* BAD internal server error${CRLF}`,
  capabilities: (view, tag) => `* CAPABILITY ${capabilityItems(view).join(' ')}${CRLF}${completed(tag)}`,
  authList: (_view) => `* BAD invalid command${CRLF}`,
  quit: (tag) => `* BYE${CRLF}${completed(tag)}`,
  starttlsOk: completed,
  userOk: '',
  challenge: (step, salt) => `+ ${saslChallengeText(step, salt)}${CRLF}`,
  saslUsernameInvalid: () => `BAD invalid command${CRLF}`,
  authFailed: (text, tag) => `${tagged(tag)} NO ${text}${CRLF}`,
  literalContinuation: `+ OK${CRLF}`,
};
