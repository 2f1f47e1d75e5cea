/** What a protocol generator provides to the property definitions. */
import type fc from 'fast-check';
import type { ClientLine, Command, Credentials, Protocol, ReceivedLine } from '../types.js';

export interface DialectGen {
  protocol: Protocol;
  /** Harmless commands every state accepts (NOOP, CAPA/CAPABILITY, EHLO, RSET). */
  safe: fc.Arbitrary<Command>;
  /** Commands with an unknown verb: the errors `max_errors` counts. */
  bad: fc.Arbitrary<Command>;
  /** Malformed input: empty lines, bad tags, stray CR, missing/extra arguments, control bytes. */
  malformed: fc.Arbitrary<Command>;
  /** A line longer than the server's command buffer. */
  overlong: fc.Arbitrary<Command>;
  /** Every authentication form with wrong or malformed credentials (may include good CRAM-MD5 data). */
  authAttempt(users: Credentials[]): fc.Arbitrary<Command>;
  /** Every authentication form with good credentials. */
  goodLogin(users: Credentials[]): fc.Arbitrary<Command>;
  /** A command only the backend answers positively (authenticated state). */
  followup(): Command;
  followupOk(reply: ReceivedLine[]): boolean;
  starttls(): Command;
  quit(): Command;
  /** Lines to pipeline behind STARTTLS (property 3). */
  injectable: fc.Arbitrary<ClientLine[]>;
  /** An incomplete line to send right before disconnecting. */
  partialLine: fc.Arbitrary<string>;
  /** Final touches on a script's commands (IMAP: assign tags). */
  finalize(commands: Command[], variant: number): Command[];
}
