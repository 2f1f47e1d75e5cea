import { not } from '../../xstate.js';
import { check, note, say, type DialogueFacts, type DialogueMemory, type Dialogue } from '../../../machines/dialogue.js';
import { SMTP_AUTH_SUCCEEDED } from './dialect.js';

/** What SMTP remembers before authentication. */
interface SmtpMemory {
  /** The client's last HELO/EHLO argument ('' if none, or forgotten by STARTTLS). */
  helo: string;
  /** The client used EHLO at least once (sticky, as in nginx). */
  esmtp: boolean;
  /** `smtp_auth none`: the MAIL and RCPT lines the backend dialogue replays. */
  mail: string | null;
  rcpt: string | null;
}

const INITIAL: SmtpMemory = { helo: '', esmtp: false, mail: null, rcpt: null };

// The chart keeps memory as plain data; this dialogue alone writes it, always whole.
const memoryOf = (facts: DialogueFacts): SmtpMemory => facts.memory as unknown as SmtpMemory;
const remember = (facts: DialogueFacts, change: Partial<SmtpMemory>): DialogueMemory => ({ ...memoryOf(facts), ...change });
const lineOf = ({ event }: DialogueFacts): string | null => (event.type === 'cmd.mail' || event.type === 'cmd.rcpt' ? event.line : null);

/**
 * SMTP before authentication (nginx: src/mail/ngx_mail_smtp_handler.c): HELO/EHLO, RSET and,
 * with `smtp_auth none`, the envelope: MAIL, then RCPT asks the auth service. STARTTLS, AUTH,
 * NOOP and QUIT are the skeleton's (machines/connection.ts).
 */
export const smtpDialogue: Dialogue = {
  idle: {
    'cmd.helo': [
      { guard: check('ehlo'), actions: [note('helo'), say('ehlo')] },
      { actions: [note('helo'), say('helo')] },
    ],
    'cmd.rset': { actions: [note('forgetEnvelope'), say('ok')] },
    'cmd.mail': [
      { guard: not(check('noneEnabled')), actions: say('authRequired') },
      { guard: check('mailGiven'), actions: say('badSequence') },
      { guard: check('envelopeLineBare'), actions: say('invalidArgument') },
      { actions: [note('mail'), 'forgetCredentials', say('ok')] },
    ],
    'cmd.rcpt': [
      { guard: not(check('mailGiven')), actions: say('badSequence') },
      { guard: check('envelopeLineBare'), actions: say('invalidArgument') },
      { target: '#connection.authenticating', actions: [note('rcpt'), { type: 'takeCredentials', params: { method: 'none' } }] },
    ],
  },
  guards: {
    ehlo: ({ event }) => event.type === 'cmd.helo' && event.esmtp,
    noneEnabled: ({ settings }) => settings.authMethods.includes('none'),
    mailGiven: (facts) => memoryOf(facts).mail !== null,
    /** MAIL/RCPT without an argument: the line is the bare verb. */
    envelopeLineBare: (facts) => {
      const line = lineOf(facts);
      return line !== null && !line.includes(' ');
    },
  },
  updates: {
    helo: (facts) =>
      facts.event.type === 'cmd.helo'
        ? remember(facts, { helo: facts.event.domain, esmtp: memoryOf(facts).esmtp || facts.event.esmtp, mail: null, rcpt: null })
        : facts.memory,
    forgetEnvelope: (facts) => remember(facts, { mail: null, rcpt: null }),
    mail: (facts) => remember(facts, { mail: lineOf(facts) }),
    rcpt: (facts) => remember(facts, { rcpt: lineOf(facts) }),
    /**
     * RFC 3207: after STARTTLS the client starts over, HELO included. A refused RCPT does not end
     * the transaction, as in nginx (MAIL again is 503, RCPT asks the auth service again).
     */
    starttls: (facts) => remember(facts, { helo: '', mail: null, rcpt: null }),
  },
  memory: { ...INITIAL },
  needsBackendPassword: false,
  authRequest: (facts) => {
    const memory = memoryOf(facts);
    return {
      clientHost: facts.settings.clientHost,
      ...(facts.credentials?.method === 'none' ? { smtp: { helo: memory.helo, from: memory.mail ?? '', to: memory.rcpt ?? '' } } : {}),
    };
  },
  backendTarget: (facts) => {
    const memory = memoryOf(facts);
    const { settings } = facts;
    return {
      smtp: {
        serverName: settings.serverName,
        helo: memory.helo,
        esmtp: memory.esmtp,
        xclient: settings.xclient,
        proxySmtpAuth: settings.proxySmtpAuth,
        clientIp: settings.clientIp,
        clientHost: settings.clientHost,
        ...(facts.credentials?.method === 'none' ? { envelope: { mail: memory.mail ?? '', rcpt: memory.rcpt ?? '' } } : {}),
      },
    };
  },
  // AUTH: the proxy itself says 235 once the backend dialogue is done; `smtp_auth none` relays the RCPT reply.
  loginAnswer: (backend) => (backend.smtp?.envelope === undefined ? SMTP_AUTH_SUCCEEDED : null),
  /**
   * With `proxy_smtp_auth` the login goes into `AUTH PLAIN` of `NUL login NUL password`: a NUL in
   * the login moves the field boundaries. Base64 carries CR and LF safely, XCLIENT's `LOGIN=` is xtext.
   */
  unsafeCredentials: (settings, user) => (settings.proxySmtpAuth && user.includes('\0') ? 'login with NUL' : null),
};
