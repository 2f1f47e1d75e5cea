import type { Secret } from '../secret.js';

/**
 * What a client's line means, as the dialect parsers (src/protocols/<proto>/parse.ts) classify
 * it. The parsers do the parse-level checks nginx does (verbs, argument counts, IMAP tags and
 * literals) and produce one of these; the connection machine (machines/) decides the rest
 * (state, starttls rules, enabled mechanisms).
 *
 * `tag` is the IMAP tag exactly as received (without the separating space); `undefined` when no
 * tag was parsed (replies then use `*`); always `undefined` for POP3 and SMTP.
 */
export type Command =
  /** POP3 CAPA, IMAP CAPABILITY (arguments ignored). */
  | { kind: 'capability'; tag?: string }
  | { kind: 'noop'; tag?: string }
  /** POP3 QUIT, IMAP LOGOUT, SMTP QUIT. */
  | { kind: 'quit'; tag?: string }
  /** POP3 STLS, IMAP/SMTP STARTTLS. */
  | { kind: 'starttls'; tag?: string }
  /** POP3 `USER name`: the whole rest of the line is the name. */
  | { kind: 'user'; user: string }
  /** POP3 `PASS secret`: the whole rest of the line is the password. */
  | { kind: 'pass'; password: Secret }
  /** POP3 `APOP name digest`. */
  | { kind: 'apop'; user: string; digest: Secret }
  /** IMAP `LOGIN user password` (atoms, quoted strings or literals, already unescaped). */
  | { kind: 'login'; tag?: string; user: string; password: Secret }
  /** POP3 bare `AUTH`: list the mechanisms. */
  | { kind: 'authList'; tag?: string }
  /** POP3 `AUTH mech [initial]`, IMAP `AUTHENTICATE mech [initial]`, SMTP `AUTH mech [initial]`. Mechanism upper-cased. */
  | { kind: 'authenticate'; tag?: string; mechanism: string; initialResponse?: Secret }
  /** A SASL continuation line (read in `sasl` mode): the text up to the first space/CR/LF. */
  | { kind: 'saslResponse'; response: Secret }
  /** SMTP `HELO x` / `EHLO x`. */
  | { kind: 'helo'; esmtp: boolean; domain: string }
  /** SMTP `MAIL ...`: `line` is the text from the verb to the end of the last argument. */
  | { kind: 'mail'; line: string }
  /** SMTP `RCPT ...`. */
  | { kind: 'rcpt'; line: string }
  | { kind: 'rset' }
  /**
   * A recognised verb with the wrong arguments (`USER` with none, `LOGIN a`, `HELO` with two,
   * ...): nginx's "handler-level" invalid command, answered like an invalid command but not
   * counted against `max_errors`. `reply` picks SMTP's specific code (501 invalid argument,
   * 500 for VRFY/EXPN/HELP); POP3/IMAP ignore it.
   */
  | { kind: 'refused'; tag?: string; reply?: 'invalidArgument' | 'invalidCommand' }
  /**
   * A parse-level invalid command (unknown verb, bad tag, too many arguments, bad literal, ...):
   * counted against `max_errors`. `closeAfter` is set for an IMAP line ending in a
   * non-synchronising literal `{N+}` (nginx closes so the literal bytes are never run).
   */
  | { kind: 'invalid'; tag?: string; closeAfter?: boolean };

export type CommandKind = Command['kind'];

/** How the framer reads the next line: as a command, or as a SASL continuation response. */
export type FrameMode = 'command' | 'sasl';

export type Framed =
  | { type: 'command'; command: Command }
  /** The command did not fit the client buffer (POP3 128 bytes, imap/smtp_client_buffer). */
  | { type: 'tooLong'; tag?: string }
  /** IMAP: a synchronising literal `{N}` header was read; the client must get `+ OK` now. */
  | { type: 'literalContinuation' };

/**
 * Turns a client's byte stream into commands, one at a time, so that the runtime can stop
 * between commands (nginx does not read the client while authenticating) and keep whatever
 * follows for the backend, or discard it on STARTTLS.
 */
export interface CommandFramer {
  /** Append received bytes. */
  push(chunk: Buffer): void;
  /** The next complete item, or `undefined` when more bytes are needed. */
  next(mode: FrameMode): Framed | undefined;
  /** Remove and return every byte not yet framed (relay start, or the STARTTLS discard). */
  takeRemainder(): Buffer;
  /** Bytes received and not yet framed. */
  readonly buffered: number;
}
