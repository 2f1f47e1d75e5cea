/**
 * Reply framing (where does the reply to a line end?) and reply grammar (is each line a
 * well-formed POP3 / IMAP / SMTP response line?). Pure functions, unit-tested.
 *
 * Framing is decided from the line the client sent and the reply lines so far:
 * - POP3: one line, except a `+OK` answering CAPA, bare AUTH, bare LIST/UIDL, RETR or TOP,
 *   which runs up to the `.` line (RFC 1939, RFC 2449, RFC 5034).
 * - IMAP: untagged `* ` lines, then one final line (tagged completion or `+` continuation).
 *   A line in which the server cannot see a tag and a verb is answered by an untagged
 *   `* BAD`/`* NO` as its final line. Any other non-`* ` line also ends the reply (its shape
 *   is property 2's business).
 * - SMTP: `ddd-` lines up to the first line that is not `ddd-` (RFC 5321 §4.2).
 * - ManageSieve: data lines up to an `OK`/`NO`/`BYE` line; a lone string answering AUTHENTICATE
 *   or a SASL response is a challenge (RFC 5804 §2.1, §4). After the STARTTLS handshake the
 *   server speaks first again (its capabilities, §2.2): that response belongs to STARTTLS.
 *
 * Each protocol's rules are one record of `RULES`, written from its RFCs (and nginx's documented
 * behaviour), never from the proxy under test.
 */
import { sieveLineKind } from './sieve-grammar.js';
import type { Protocol, ReceivedLine } from './types.js';

const POP3_MULTI_ALWAYS = new Set(['CAPA', 'RETR', 'TOP']);
const POP3_MULTI_BARE = new Set(['AUTH', 'LIST', 'UIDL']);

/** A POP3 command whose `+OK` reply is multi-line. */
export function pop3MultiLine(sent: string): boolean {
  const m = /^([A-Za-z]+)(?: +(.*))?$/.exec(sent);
  if (!m) return false;
  const verb = m[1]!.toUpperCase();
  const args = (m[2] ?? '').trim();
  return POP3_MULTI_ALWAYS.has(verb) || (POP3_MULTI_BARE.has(verb) && args === '');
}

/** The IMAP server can see `tag SP verb` in this line (nginx's tag alphabet, <= 32 chars). */
export function imapHasTag(sent: string): boolean {
  return /^[A-Za-z0-9._-]{1,32} +[A-Za-z]/.test(sent);
}

/** The first space-separated token of a line. */
export function firstToken(sent: string): string {
  const i = sent.indexOf(' ');
  return i < 0 ? sent : sent.slice(0, i);
}

/** A grammar problem and the reply line it is about. */
export interface LineProblem {
  line: ReceivedLine;
  problem: string;
}

/** What the suite knows of one protocol's replies. */
interface ReplyRules {
  /** Whether `lines` (the last one complete) is a complete reply to `sent` (null: the greeting). */
  replyComplete(sent: string | null, lines: ReceivedLine[]): boolean;
  /** A positive final reply. */
  isPositive(lines: ReceivedLine[]): boolean;
  /** A continuation request (a SASL challenge). */
  isContinuation(lines: ReceivedLine[]): boolean;
  /** The reply announces the end of the session. */
  announcesClose(lines: ReceivedLine[]): boolean;
  /** The greeting has the protocol's shape. */
  greetingOk(lines: ReceivedLine[]): boolean;
  /** Grammar problems of one reply to `sent` (end-of-line problems are found for every protocol). */
  lineProblems(sent: string, lines: ReceivedLine[], bad: (l: ReceivedLine, why: string) => void): void;
  /** The base64 challenge of a continuation line, or null. */
  challenge(line: string): string | null;
  /** A SASL response line carrying `base64`. */
  saslResponse(base64: string): string;
  /** The server speaks again, unasked, once a STARTTLS handshake is done. */
  speaksAfterStarttls: boolean;
  /**
   * Whether `lines`, a reply to the line `sent`, is a server refusing the line's unknown verb as
   * soon as it has read it, before the line's end (the caller checks the timing); `loggedIn`:
   * the session is past a successful login.
   */
  refusesUnknownVerbEarly(sent: string, lines: ReceivedLine[], loggedIn: boolean): boolean;
}

const IMAP_TAG = /^[^\x00-\x20\x7f(){%*"\\\]+]+$/;

const first = (lines: ReceivedLine[]) => lines[0];
const last = (lines: ReceivedLine[]) => lines[lines.length - 1];
const plusChallenge = (line: string): string | null => /^\+ (\S+)/.exec(line)?.[1] ?? null;

const pop3: ReplyRules = {
  replyComplete: (sent, lines) => {
    if (sent === null || !first(lines)!.text.startsWith('+OK') || !pop3MultiLine(sent)) return true;
    return lines.length >= 2 && last(lines)!.text === '.';
  },
  isPositive: (lines) => first(lines)!.text.startsWith('+OK'),
  isContinuation: (lines) => /^\+(?: |$)/.test(last(lines)!.text),
  announcesClose: () => false,
  greetingOk: (lines) => /^\+OK(?: |$)/.test(first(lines)!.text),
  lineProblems(sent, lines, bad) {
    const head = first(lines)!;
    if (!/^(\+OK|-ERR)(?: |$)/.test(head.text) && !/^\+(?: |$)/.test(head.text)) bad(head, 'is not "+OK", "-ERR" or a "+ " continuation');
    if (head.text.startsWith('+OK') && pop3MultiLine(sent)) {
      for (const l of lines.slice(1, -1)) if (l.text.startsWith('.') && !l.text.startsWith('..')) bad(l, 'starts with "." but is not dot-stuffed');
    } else if (lines.length > 1) {
      for (const l of lines.slice(1)) bad(l, 'follows a single-line reply');
    }
  },
  challenge: plusChallenge,
  saslResponse: (base64) => base64,
  speaksAfterStarttls: false,
  refusesUnknownVerbEarly: () => false,
};

const imap: ReplyRules = {
  replyComplete: (sent, lines) => {
    if (sent === null) return true;
    if (!last(lines)!.text.startsWith('*')) return true;
    return !imapHasTag(sent) && /^\* (BAD|NO)\b/i.test(last(lines)!.text);
  },
  isPositive: (lines) => /^[^\s*+]\S* OK(?: |$)/i.test(last(lines)!.text),
  isContinuation: (lines) => /^\+(?: |$)/.test(last(lines)!.text),
  announcesClose: (lines) => lines.some((l) => /^\* BYE\b/i.test(l.text)),
  greetingOk: (lines) => /^\* (OK|PREAUTH|BYE)(?: |$)/i.test(first(lines)!.text),
  lineProblems(_sent, lines, bad) {
    lines.forEach((l, i) => {
      const final = i === lines.length - 1;
      if (l.text.startsWith('* ')) {
        if (!/^\* [A-Za-z0-9]/.test(l.text)) bad(l, 'is not an untagged response ("* " + status, number or name)');
        return;
      }
      if (/^\+(?: |$)/.test(l.text)) {
        if (!final) bad(l, 'is a "+" continuation in the middle of a reply');
        return;
      }
      const m = /^(\S*) (\S+)(?: |$)/.exec(l.text);
      if (!m || !/^(OK|NO|BAD)$/i.test(m[2]!)) return bad(l, 'is not "* ...", "+ ..." or "<tag> OK|NO|BAD ..."');
      if (!IMAP_TAG.test(m[1]!)) return bad(l, `has an invalid tag ${JSON.stringify(m[1])}`);
      if (!final) bad(l, 'is a tagged completion followed by more lines');
    });
  },
  challenge: plusChallenge,
  saslResponse: (base64) => base64,
  speaksAfterStarttls: false,
  refusesUnknownVerbEarly: () => false,
};

const smtp: ReplyRules = {
  replyComplete: (_sent, lines) => !/^\d{3}-/.test(last(lines)!.text),
  isPositive: (lines) => /^[23]\d\d(?: |$)/.test(last(lines)!.text),
  isContinuation: (lines) => /^334(?: |$)/.test(last(lines)!.text),
  announcesClose: (lines) => lines.some((l) => /^(221|421)\b/.test(l.text)),
  greetingOk: (lines) => lines.every((l, i) => (i < lines.length - 1 ? /^(220|554)-/ : /^(220|554)(?: |$)/).test(l.text)),
  lineProblems(_sent, lines, bad) {
    const code = first(lines)!.text.slice(0, 3);
    lines.forEach((l, i) => {
      const final = i === lines.length - 1;
      if (!/^[2-5]\d\d(?:[ -]|$)/.test(l.text)) return bad(l, 'is not "ddd text" / "ddd-text" with ddd in 200-599');
      if (l.text.slice(0, 3) !== code) bad(l, `changes the reply code within a reply (${code})`);
      if (final && l.text[3] === '-') bad(l, 'is the last line but has a "-" continuation mark');
      if (!final && l.text[3] !== '-') bad(l, 'is not the last line but has no "-" mark');
    });
  },
  challenge: (line) => /^334 (\S+)/.exec(line)?.[1] ?? null,
  saslResponse: (base64) => base64,
  speaksAfterStarttls: false,
  refusesUnknownVerbEarly: () => false,
};

/** RFC 5804 §2's commands (UNAUTHENTICATE from §2.14.1). */
const SIEVE_COMMANDS: ReadonlySet<string> = new Set([
  'AUTHENTICATE', 'STARTTLS', 'LOGOUT', 'CAPABILITY', 'HAVESPACE', 'PUTSCRIPT', 'LISTSCRIPTS', 'SETACTIVE',
  'GETSCRIPT', 'DELETESCRIPT', 'RENAMESCRIPT', 'CHECKSCRIPT', 'NOOP', 'UNAUTHENTICATE',
]);
/** Valid only before login (RFC 5804 §2.1, §2.2): after it a server knows them no more (Dovecot: "Unknown command"). */
const SIEVE_BEFORE_LOGIN_ONLY: ReadonlySet<string> = new Set(['AUTHENTICATE', 'STARTTLS']);
const sieveVerbKnown = (verb: string, loggedIn: boolean): boolean =>
  SIEVE_COMMANDS.has(verb) && !(loggedIn && SIEVE_BEFORE_LOGIN_ONLY.has(verb));

/** A ManageSieve line that is one string alone (a SASL challenge, or a one-word capability). */
const loneString = (text: string): boolean => sieveLineKind(text) === 'data' && /^(?:"(?:[^"\\]|\\.)*"|\{\d+\})$/.test(text);
/** A line the client sends inside a SASL exchange (a string alone), or AUTHENTICATE itself. */
const sieveSasl = (sent: string): boolean => /^AUTHENTICATE\b/i.test(sent) || /^(?:"[^"]*"|\{\d+\+?\})$/.test(sent);
const sieveStatus = (text: string): boolean => /^(OK|NO|BYE)(?= |$)/i.test(text);

const sieve: ReplyRules = {
  replyComplete: (sent, lines) => {
    const text = last(lines)!.text;
    if (sieveStatus(text)) return true;
    return sent !== null && sieveSasl(sent) && lines.length === 1 && loneString(text);
  },
  isPositive: (lines) => /^OK(?= |$)/i.test(last(lines)!.text),
  isContinuation: (lines) => lines.length === 1 && loneString(last(lines)!.text),
  announcesClose: (lines) => lines.some((l) => /^BYE(?= |$)/i.test(l.text)),
  greetingOk: (lines) => /^OK(?= |$)/i.test(last(lines)!.text) && lines.every((l, i) => sieveLineKind(l.text) === (i === lines.length - 1 ? 'ok' : 'data')),
  lineProblems(_sent, lines, bad) {
    lines.forEach((l, i) => {
      const kind = sieveLineKind(l.text);
      if (kind === null) return bad(l, 'is not a ManageSieve response line (data strings, or OK/NO/BYE [(code)] [string])');
      // Data lines end with the status line of their response (a lone challenge excepted).
      if (kind === 'data' && i === lines.length - 1 && !(lines.length === 1 && loneString(l.text))) bad(l, 'is a data line with no OK/NO/BYE after it');
    });
  },
  challenge: (line) => /^"([A-Za-z0-9+/]*={0,2})"$/.exec(line)?.[1] ?? null,
  saslResponse: (base64) => `"${base64}"`,
  speaksAfterStarttls: true,
  // Dovecot's managesieve answers `NO` (`BYE` at its error limit) once it has read an unknown
  // verb and a space, before the line's end (checked on Dovecot 2.3); behind a proxy, after
  // login, that is what the client sees. Only that: one NO or BYE line, to a verb that is none
  // of RFC 5804's commands in the session's state; a known command is answered after its line.
  refusesUnknownVerbEarly: (sent, lines, loggedIn) =>
    !sieveVerbKnown(firstToken(sent).toUpperCase(), loggedIn) && lines.length === 1 && /^(NO|BYE)(?= |$)/i.test(lines[0]!.text),
};

const RULES: Record<Protocol, ReplyRules> = { pop3, imap, smtp, sieve };

/**
 * Whether `lines` (the reply so far; the last one complete) is a complete reply to `sent`.
 * `sent` is null for the greeting.
 */
export function replyComplete(protocol: Protocol, sent: string | null, lines: ReceivedLine[]): boolean {
  return lines.length > 0 && RULES[protocol].replyComplete(sent, lines);
}

/** A positive final reply (POP3 `+OK`, IMAP tagged `OK`, SMTP 2xx/3xx, ManageSieve `OK`). */
export function isPositive(protocol: Protocol, lines: ReceivedLine[]): boolean {
  return lines.length > 0 && RULES[protocol].isPositive(lines);
}

/** A continuation request (POP3/IMAP `+ ...`, SMTP 334, ManageSieve a lone string). */
export function isContinuation(protocol: Protocol, lines: ReceivedLine[]): boolean {
  return lines.length > 0 && RULES[protocol].isContinuation(lines);
}

/** A refusal / error (neither positive nor a continuation). */
export function isNegative(protocol: Protocol, lines: ReceivedLine[]): boolean {
  return lines.length > 0 && !isPositive(protocol, lines) && !isContinuation(protocol, lines);
}

/** The reply announces the end of the session (IMAP `* BYE`, SMTP 221/421, ManageSieve `BYE`). */
export function announcesClose(protocol: Protocol, lines: ReceivedLine[]): boolean {
  return RULES[protocol].announcesClose(lines);
}

/** The base64 challenge of a SASL continuation line, or null. */
export const saslChallenge = (protocol: Protocol, line: string): string | null => RULES[protocol].challenge(line);
/** A SASL response line as the protocol carries it (ManageSieve: a quoted string). */
export const saslResponse = (protocol: Protocol, base64: string): string => RULES[protocol].saslResponse(base64);
/** The server speaks again once a STARTTLS handshake is done (ManageSieve's capabilities). */
export const speaksAfterStarttls = (protocol: Protocol): boolean => RULES[protocol].speaksAfterStarttls;
/** `lines` may be a refusal of `sent`'s unknown verb, sent before the line was complete (ManageSieve servers). */
export const refusesUnknownVerbEarly = (protocol: Protocol, sent: string, lines: ReceivedLine[], loggedIn: boolean): boolean =>
  RULES[protocol].refusesUnknownVerbEarly(sent, lines, loggedIn);

// ---------------------------------------------------------------------------------------
// Grammar (property 2)

function eolProblem(line: ReceivedLine): string | undefined {
  if (line.eol === '\r\n') return undefined;
  return line.eol === '' ? 'is not terminated (connection closed mid-line)' : 'ends with a bare LF instead of CRLF';
}

/** Problems with a greeting. */
export function greetingProblems(protocol: Protocol, lines: ReceivedLine[]): string[] {
  const out: string[] = [];
  if (lines.length === 0) return ['no greeting'];
  for (const l of lines) {
    const p = eolProblem(l);
    if (p) out.push(`greeting line ${JSON.stringify(l.text)} ${p}`);
  }
  if (!RULES[protocol].greetingOk(lines)) out.push(`greeting ${JSON.stringify(lines.map((l) => l.text).join('\\r\\n'))} is not a ${protocol.toUpperCase()} greeting`);
  return out;
}

/** Problems with one reply to the line `sent`. */
export function replyProblems(protocol: Protocol, sent: string, lines: ReceivedLine[]): string[] {
  return replyLineProblems(protocol, sent, lines).map((p) => p.problem);
}

/** `replyProblems` with the reply line each problem is about (known quirks are recognised by both). */
export function replyLineProblems(protocol: Protocol, sent: string, lines: ReceivedLine[]): LineProblem[] {
  const out: LineProblem[] = [];
  const bad = (l: ReceivedLine, why: string) => out.push({ line: l, problem: `reply line ${JSON.stringify(l.text)} ${why}` });
  for (const l of lines) {
    const p = eolProblem(l);
    if (p) bad(l, p);
  }
  if (lines.length > 0) RULES[protocol].lineProblems(sent, lines, bad);
  return out;
}
