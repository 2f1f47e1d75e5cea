/**
 * SMTP command parsing before authentication (nginx: src/mail/ngx_mail_parse.c, ngx_mail_smtp_parse_command), the rules of nginx's
 * `ngx_mail_smtp_parse_command` re-implemented on the word scanner shared with POP3:
 *
 *   line = verb *( 1*SP arg ) *SP [CR] LF
 *   verb = HELO EHLO AUTH QUIT NOOP MAIL RSET RCPT VRFY EXPN HELP STARTTLS (case-insensitive)
 *   arg  = bytes up to SP / CR / LF; at most 11 arguments
 *
 * Handler-level refusals nginx answers itself, regardless of state, are mapped to `refused`:
 * HELO/EHLO without exactly one argument and bare AUTH → 501 (`invalidArgument`);
 * AUTH with too many arguments (or CRAM-MD5 with an initial response) and VRFY/EXPN/HELP →
 * 500 (`invalidCommand`).
 *
 * MAIL/RCPT are always returned as `mail`/`rcpt`, because nginx checks its state (auth none
 * disabled → 530, second MAIL / RCPT before MAIL → 503) before the missing argument (→ 501).
 * `line` is the text from the verb (as sent) to the end of the last argument; without
 * arguments it is just the 4-letter verb — the machine answers 501 for that after its state
 * checks.
 */
import { WordScanner, upperWord, type WordLine } from '../word-scanner.js';
import { classifyAuthenticate } from '../sasl.js';
import type { Command } from '../types.js';

const SMTP_VERBS = new Set(['HELO', 'EHLO', 'AUTH', 'QUIT', 'NOOP', 'MAIL', 'RSET', 'RCPT', 'VRFY', 'EXPN', 'HELP']);

/** SMTP verbs → commands (see the module comment). */
export function interpretSmtp(verb: string, args: readonly string[], text: string): Command {
  switch (verb) {
    case 'HELO':
    case 'EHLO':
      return args.length === 1
        ? { kind: 'helo', esmtp: verb === 'EHLO', domain: args[0]! }
        : { kind: 'refused', reply: 'invalidArgument' };
    case 'AUTH':
      return args.length === 0
        ? { kind: 'refused', reply: 'invalidArgument' }
        : classifyAuthenticate(args, undefined, 'invalidCommand');
    case 'QUIT':
      return { kind: 'quit' };
    case 'NOOP':
      return { kind: 'noop' };
    case 'RSET':
      return { kind: 'rset' };
    case 'STARTTLS':
      return { kind: 'starttls' };
    case 'MAIL':
      return { kind: 'mail', line: text };
    case 'RCPT':
      return { kind: 'rcpt', line: text };
    case 'VRFY':
    case 'EXPN':
    case 'HELP':
      return { kind: 'refused', reply: 'invalidCommand' };
    default:
      return { kind: 'invalid' };
  }
}

export class SmtpScanner extends WordScanner {
  protected readonly maxArgs = 11;

  protected verbOf(data: Buffer, start: number, end: number): string | undefined {
    const length = end - start;
    if (length !== 4 && length !== 8) return undefined;
    const verb = upperWord(data, start, end);
    return (length === 4 && SMTP_VERBS.has(verb)) || verb === 'STARTTLS' ? verb : undefined;
  }

  protected interpret(line: WordLine): Command {
    return interpretSmtp(line.verb ?? '', line.args, line.text);
  }
}
