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
 */
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

/**
 * Whether `lines` (the reply so far; the last one complete) is a complete reply to `sent`.
 * `sent` is null for the greeting.
 */
export function replyComplete(protocol: Protocol, sent: string | null, lines: ReceivedLine[]): boolean {
  const last = lines[lines.length - 1];
  const first = lines[0];
  if (!last || !first) return false;
  switch (protocol) {
    case 'pop3':
      if (sent === null || !first.text.startsWith('+OK') || !pop3MultiLine(sent)) return true;
      return lines.length >= 2 && last.text === '.';
    case 'imap':
      if (sent === null) return true;
      if (!last.text.startsWith('*')) return true;
      return !imapHasTag(sent) && /^\* (BAD|NO)\b/i.test(last.text);
    case 'smtp':
      return !/^\d{3}-/.test(last.text);
  }
}

/** A positive final reply (POP3 `+OK`, IMAP tagged `OK`, SMTP 2xx/3xx). */
export function isPositive(protocol: Protocol, lines: ReceivedLine[]): boolean {
  const first = lines[0];
  const last = lines[lines.length - 1];
  if (!first || !last) return false;
  switch (protocol) {
    case 'pop3':
      return first.text.startsWith('+OK');
    case 'imap':
      return /^[^\s*+]\S* OK(?: |$)/i.test(last.text);
    case 'smtp':
      return /^[23]\d\d(?: |$)/.test(last.text);
  }
}

/** A continuation request (POP3/IMAP `+ ...`, SMTP 334). */
export function isContinuation(protocol: Protocol, lines: ReceivedLine[]): boolean {
  const last = lines[lines.length - 1];
  if (!last) return false;
  if (protocol === 'smtp') return /^334(?: |$)/.test(last.text);
  return /^\+(?: |$)/.test(last.text);
}

/** A refusal / error (neither positive nor a continuation). */
export function isNegative(protocol: Protocol, lines: ReceivedLine[]): boolean {
  return lines.length > 0 && !isPositive(protocol, lines) && !isContinuation(protocol, lines);
}

/** The reply announces the end of the session (IMAP `* BYE`, SMTP 221/421). */
export function announcesClose(protocol: Protocol, lines: ReceivedLine[]): boolean {
  if (protocol === 'imap') return lines.some((l) => /^\* BYE\b/i.test(l.text));
  if (protocol === 'smtp') return lines.some((l) => /^(221|421)\b/.test(l.text));
  return false;
}

// ---------------------------------------------------------------------------------------
// Grammar (property 2)

const IMAP_TAG = /^[^\x00-\x20\x7f(){%*"\\\]+]+$/;

function eolProblem(line: ReceivedLine): string | undefined {
  if (line.eol === '\r\n') return undefined;
  return line.eol === '' ? 'is not terminated (connection closed mid-line)' : 'ends with a bare LF instead of CRLF';
}

/** Problems with a greeting. */
export function greetingProblems(protocol: Protocol, lines: ReceivedLine[]): string[] {
  const out: string[] = [];
  const first = lines[0];
  if (!first) return ['no greeting'];
  for (const l of lines) {
    const p = eolProblem(l);
    if (p) out.push(`greeting line ${JSON.stringify(l.text)} ${p}`);
  }
  const ok =
    protocol === 'pop3'
      ? /^\+OK(?: |$)/.test(first.text)
      : protocol === 'imap'
        ? /^\* (OK|PREAUTH|BYE)(?: |$)/i.test(first.text)
        : lines.every((l, i) => (i < lines.length - 1 ? /^(220|554)-/ : /^(220|554)(?: |$)/).test(l.text));
  if (!ok) out.push(`greeting ${JSON.stringify(lines.map((l) => l.text).join('\\r\\n'))} is not a ${protocol.toUpperCase()} greeting`);
  return out;
}

/** Problems with one reply to the line `sent`. */
export function replyProblems(protocol: Protocol, sent: string, lines: ReceivedLine[]): string[] {
  return replyLineProblems(protocol, sent, lines).map((p) => p.problem);
}

/** A grammar problem and the reply line it is about. */
export interface LineProblem {
  line: ReceivedLine;
  problem: string;
}

/** `replyProblems` with the reply line each problem is about (known quirks are recognised by both). */
export function replyLineProblems(protocol: Protocol, sent: string, lines: ReceivedLine[]): LineProblem[] {
  const out: LineProblem[] = [];
  const bad = (l: ReceivedLine, why: string) => out.push({ line: l, problem: `reply line ${JSON.stringify(l.text)} ${why}` });
  for (const l of lines) {
    const p = eolProblem(l);
    if (p) bad(l, p);
  }
  const first = lines[0];
  if (!first) return out;
  switch (protocol) {
    case 'pop3': {
      if (!/^(\+OK|-ERR)(?: |$)/.test(first.text) && !/^\+(?: |$)/.test(first.text)) {
        bad(first, 'is not "+OK", "-ERR" or a "+ " continuation');
      }
      if (first.text.startsWith('+OK') && pop3MultiLine(sent)) {
        for (const l of lines.slice(1, -1)) if (l.text.startsWith('.') && !l.text.startsWith('..')) bad(l, 'starts with "." but is not dot-stuffed');
      } else if (lines.length > 1) {
        for (const l of lines.slice(1)) bad(l, 'follows a single-line reply');
      }
      break;
    }
    case 'imap': {
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
      break;
    }
    case 'smtp': {
      const code = first.text.slice(0, 3);
      lines.forEach((l, i) => {
        const final = i === lines.length - 1;
        if (!/^[2-5]\d\d(?:[ -]|$)/.test(l.text)) return bad(l, 'is not "ddd text" / "ddd-text" with ddd in 200-599');
        if (l.text.slice(0, 3) !== code) bad(l, `changes the reply code within a reply (${code})`);
        if (final && l.text[3] === '-') bad(l, 'is the last line but has a "-" continuation mark');
        if (!final && l.text[3] !== '-') bad(l, 'is not the last line but has no "-" mark');
      });
      break;
    }
  }
  return out;
}
