/**
 * The word-oriented line scanner POP3 and SMTP share (nginx: src/mail/ngx_mail_parse.c,
 * ngx_mail_pop3_parse_command and ngx_mail_smtp_parse_command follow the same rules).
 *
 * Grammar (re-implemented):
 *   line  = verb *( 1*SP arg ) *SP [CR] LF
 *   verb  = letters only, exactly 4 of them (SMTP: also the 8-letter STARTTLS), case-insensitive
 *   arg   = bytes up to SP / CR / LF (POP3 USER and PASS: up to CR / LF, spaces included)
 * At most 3 arguments (SMTP 11); a 4th (12th) one, an unknown or malformed verb, a leading
 * space, an empty line or a CR not followed by LF make the line a parse-level invalid command
 * (counted against max_errors); the rest of the line up to LF is skipped.
 *
 * In `sasl` mode the line is read starting directly inside an argument: the response is the
 * first argument (up to the first SP / CR / LF, possibly empty); further words are parsed as
 * ordinary arguments (so the same argument limit applies) and ignored.
 */
import type { CommandScanner, ScanResult } from './scanner.js';
import type { Command, FrameMode } from './types.js';
import { Secret } from '../secret.js';

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;

const ST_VERB = 0;
const ST_SPACES = 1;
const ST_ARG = 2;
const ST_ALMOST_DONE = 3;
const ST_INVALID = 4;

const isLetter = (ch: number): boolean => (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a);

/** ASCII upper-case of a short run of letters in `data`. */
export function upperWord(data: Buffer, start: number, end: number): string {
  let word = '';
  for (let i = start; i < end; i++) {
    const ch = data[i]!;
    word += String.fromCharCode(ch >= 0x61 && ch <= 0x7a ? ch - 0x20 : ch);
  }
  return word;
}

/** What a complete, syntactically valid line looked like. */
export interface WordLine {
  /** Upper-cased verb (undefined in sasl mode). */
  verb: string | undefined;
  /** Arguments as binary (latin1) strings. */
  args: string[];
  /** The raw text from the verb to the end of the last argument (SMTP MAIL/RCPT). */
  text: string;
}

/**
 * Byte-at-a-time scanner for POP3/SMTP-style lines. Subclasses say which verbs exist, how many
 * arguments are allowed, whether spaces end an argument, and what a complete line means.
 */
export abstract class WordScanner implements CommandScanner {
  #pos = 0;
  #state = ST_VERB;
  #verb: string | undefined;
  #args: string[] = [];
  #argStart = 0;
  /** End (relative) of the last argument, or of the verb when there is none. */
  #lastEnd = 0;
  #sasl = false;
  /** POP3 USER/PASS: spaces belong to the argument. */
  #keepSpaces = false;

  protected abstract readonly maxArgs: number;
  /** The upper-cased verb if `data[start..end)` is one this protocol's parser recognises. */
  protected abstract verbOf(data: Buffer, start: number, end: number): string | undefined;
  /** POP3 USER/PASS: the argument runs to the end of the line. */
  protected spacesInArgument(_verb: string | undefined): boolean {
    return false;
  }
  protected abstract interpret(line: WordLine): Command;

  get consumed(): number {
    return this.#pos;
  }

  get tag(): string | undefined {
    return undefined;
  }

  begin(mode: FrameMode): void {
    this.#pos = 0;
    this.#verb = undefined;
    this.#args = [];
    this.#lastEnd = 0;
    this.#sasl = mode === 'sasl';
    this.#keepSpaces = false;
    if (this.#sasl) {
      this.#state = ST_ARG;
      this.#argStart = 0;
    } else {
      this.#state = ST_VERB;
    }
  }

  scan(data: Buffer, base: number, end: number): ScanResult {
    let p = base + this.#pos;
    let state = this.#state;

    while (p < end) {
      const ch = data[p]!;
      let done = false;
      switch (state) {
        case ST_VERB:
          if (ch === SP || ch === CR || ch === LF) {
            const verb = this.verbOf(data, base, p);
            if (verb === undefined) {
              state = ST_INVALID;
              continue; // re-examine this byte (it may be the LF)
            }
            this.#verb = verb;
            this.#lastEnd = p - base;
            if (ch === SP) state = ST_SPACES;
            else if (ch === CR) state = ST_ALMOST_DONE;
            else done = true;
            this.#keepSpaces = this.spacesInArgument(verb);
          } else if (!isLetter(ch)) {
            state = ST_INVALID;
            continue;
          }
          break;

        case ST_SPACES:
          if (ch === SP) break;
          if (ch === CR) state = ST_ALMOST_DONE;
          else if (ch === LF) done = true;
          else if (this.#args.length < this.maxArgs) {
            this.#argStart = p - base;
            state = ST_ARG;
          } else {
            state = ST_INVALID;
          }
          break;

        case ST_ARG:
          if ((ch === SP && !this.#keepSpaces) || ch === CR || ch === LF) {
            this.#args.push(data.toString('latin1', base + this.#argStart, p));
            this.#lastEnd = p - base;
            if (ch === SP) state = ST_SPACES;
            else if (ch === CR) state = ST_ALMOST_DONE;
            else done = true;
          }
          break;

        case ST_ALMOST_DONE:
          if (ch === LF) done = true;
          else {
            state = ST_INVALID;
            continue;
          }
          break;

        default: // ST_INVALID: skip to LF
          if (ch === LF) {
            this.#pos = p + 1 - base;
            this.#state = state;
            return { type: 'complete', framed: { type: 'command', command: { kind: 'invalid' } } };
          }
          break;
      }
      p++;
      if (done) {
        this.#pos = p - base;
        this.#state = state;
        const line: WordLine = {
          verb: this.#verb,
          args: this.#args,
          text: data.toString('latin1', base, base + this.#lastEnd),
        };
        const command: Command = this.#sasl
          ? { kind: 'saslResponse', response: new Secret(this.#args[0] ?? '') }
          : this.interpret(line);
        return { type: 'complete', framed: { type: 'command', command } };
      }
    }
    this.#pos = p - base;
    this.#state = state;
    return { type: 'again' };
  }
}

