/**
 * Known nginx 1.22.1 quirks, each a counterexample class of one property: the exact problem a
 * documented deviation of nginx from the dialect's grammar produces, in the exact situation that
 * produces it. Postern reproduces them on purpose (docs/conformance.md).
 *
 * A problem that is one of these is counted and reported as a known nginx quirk instead of
 * failing its property (unless `strict`); every other problem, including the same kind of
 * problem in any other situation, still fails. The matchers are deliberately narrow: an empty
 * tag echoed for a line that did not start with a space, or an unstarred `BAD` anywhere but after
 * the AUTHENTICATE LOGIN user-name challenge, is a new bug, not this quirk.
 */
import type { Execution, PropertyId, Protocol, ReceivedLine } from './types.js';

export interface KnownQuirk {
  /** The counterexample class, e.g. `imap-empty-tag-echoed`. */
  id: string;
  property: PropertyId;
  protocol: Protocol;
  title: string;
  reference: string;
  /** Whether `problem`, found in reply line `line` of exchange `index`, is exactly this quirk. */
  matches(problem: string, exec: Execution, index: number, line: ReceivedLine): boolean;
}

/** One problem recognised as a known quirk. */
export interface QuirkHit {
  id: string;
  /** The problem as the property words it (what it would fail with in strict mode). */
  problem: string;
}

const notImapLine = (text: string): string => `reply line ${JSON.stringify(text)} is not "* ...", "+ ..." or "<tag> OK|NO|BAD ..."`;

export const KNOWN_QUIRKS: readonly KnownQuirk[] = [
  {
    id: 'imap-empty-tag-echoed',
    property: 'reply-grammar',
    protocol: 'imap',
    title: 'a command line starting with a space has an empty tag, and nginx echoes it: " BAD invalid command" (" OK completed", ...) instead of "* BAD"',
    reference: 'nginx src/mail/ngx_mail_imap_module.c: the tag is echoed as parsed',
    matches(problem, exec, index, line) {
      const ex = exec.exchanges[index];
      return (
        ex !== undefined &&
        ex.sent.startsWith(' ') &&
        ex.reply[ex.reply.length - 1] === line &&
        /^ (OK|NO|BAD)(?: |$)/.test(line.text) &&
        problem === `reply line ${JSON.stringify(line.text)} has an invalid tag ""`
      );
    },
  },
  {
    id: 'imap-login-username-bad-untagged',
    property: 'reply-grammar',
    protocol: 'imap',
    title: 'an invalid user name line after AUTHENTICATE LOGIN\'s "+ VXNlcm5hbWU6" is answered "BAD invalid command": neither tagged nor "* "',
    reference: 'nginx src/mail/ngx_mail_imap_module.c: ngx_mail_auth_login_username error path',
    matches(problem, exec, index, line) {
      const ex = exec.exchanges[index];
      const prev = exec.exchanges[index - 1];
      return (
        ex !== undefined &&
        prev !== undefined &&
        prev.command === ex.command &&
        /^\S+ AUTHENTICATE LOGIN$/i.test(prev.sent) &&
        prev.reply.length === 1 &&
        prev.reply[0]!.text === '+ VXNlcm5hbWU6' &&
        ex.reply.length === 1 &&
        ex.reply[0] === line &&
        line.text === 'BAD invalid command' &&
        problem === notImapLine(line.text)
      );
    },
  },
];

/** The known quirk `problem` is, for this property and protocol, or undefined. */
export function knownQuirk(property: PropertyId, protocol: Protocol, problem: string, exec: Execution, index: number, line: ReceivedLine): KnownQuirk | undefined {
  return KNOWN_QUIRKS.find((q) => q.property === property && q.protocol === protocol && q.matches(problem, exec, index, line));
}

/**
 * The counterexample class of a problem: its message with every quoted value and every number
 * blanked (`reply line "…" has an invalid tag "…" (reply to "…")`). Two servers failing a
 * property are compared by these, not by their shrunk counterexamples, which differ by chance.
 */
export function problemClass(message: string): string {
  return message.replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/\d+/g, 'N');
}

/** The sorted, unique classes of a failure's problems. */
export function problemClasses(problems: readonly string[]): string[] {
  return [...new Set(problems.map(problemClass))].sort();
}
