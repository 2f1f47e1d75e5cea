/**
 * POP3 command parsing (nginx: src/mail/ngx_mail_parse.c, ngx_mail_pop3_parse_command) on the
 * shared word scanner (../word-scanner.ts): at most 3 arguments; USER and PASS take the rest of
 * the line, spaces included.
 */
import { classifyAuthenticate } from '../sasl.js';
import { Secret } from '../../secret.js';
import type { Command } from '../types.js';
import { upperWord, WordScanner, type WordLine } from '../word-scanner.js';

const POP3_VERBS = new Set(['USER', 'PASS', 'APOP', 'QUIT', 'CAPA', 'AUTH', 'NOOP', 'STLS']);

/** POP3 verbs → commands, with nginx's handler-level argument checks (→ `refused`). */
export function interpretPop3(verb: string, args: readonly string[]): Command {
  switch (verb) {
    case 'USER':
      return args.length === 1 ? { kind: 'user', user: args[0]! } : { kind: 'refused' };
    case 'PASS':
      return args.length === 1 ? { kind: 'pass', password: new Secret(args[0]!) } : { kind: 'refused' };
    case 'APOP':
      return args.length === 2
        ? { kind: 'apop', user: args[0]!, digest: new Secret(args[1]!) }
        : { kind: 'refused' };
    case 'QUIT':
      return { kind: 'quit' };
    case 'CAPA':
      return { kind: 'capability' };
    case 'NOOP':
      return { kind: 'noop' };
    case 'STLS':
      return { kind: 'starttls' };
    case 'AUTH':
      return args.length === 0 ? { kind: 'authList' } : classifyAuthenticate(args, undefined);
    default:
      return { kind: 'invalid' };
  }
}

export class Pop3Scanner extends WordScanner {
  protected readonly maxArgs = 3;

  protected verbOf(data: Buffer, start: number, end: number): string | undefined {
    if (end - start !== 4) return undefined;
    const verb = upperWord(data, start, end);
    return POP3_VERBS.has(verb) ? verb : undefined;
  }

  protected override spacesInArgument(verb: string | undefined): boolean {
    return verb === 'USER' || verb === 'PASS';
  }

  protected interpret(line: WordLine): Command {
    return interpretPop3(line.verb ?? '', line.args);
  }
}
