/**
 * IMAP command parsing (nginx: src/mail/ngx_mail_parse.c, ngx_mail_imap_parse_command), an incremental re-implementation of the rules of
 * nginx's `ngx_mail_imap_parse_command`:
 *
 *   line    = tag 1*SP verb *( 1*SP arg ) *SP [CR] LF
 *   tag     = 0*32( ALPHA / DIGIT / "-" / "." / "_" )   (empty tag: line starts with SP)
 *   verb    = letters; LOGIN LOGOUT CAPABILITY NOOP STARTTLS AUTHENTICATE (case-insensitive)
 *   arg     = atom / quoted / literal          (at most 3 arguments)
 *   atom    = 1*(any byte but SP CR LF)        ('"' and '\' are ordinary inside an atom)
 *   quoted  = DQUOTE *(byte but DQUOTE \ CR LF / "\" byte-but-CR-LF) DQUOTE  (unescaped)
 *   literal = "{" 1*DIGIT ["+"] "}" [CR] LF <N raw bytes>   then only SP, CR LF or LF
 *
 * Deliberate differences from nginx (listed in docs/nginx-migration.md where a client can notice):
 * - a quoted string that reaches CR/LF unterminated is invalid (nginx ends the argument there
 *   and carries the "inside quotes" flag into the next command);
 * - `{}` / `{+}` (no digits) are invalid; `{0}` is an empty literal (a synchronising `{0}`
 *   still gets its `+ OK` continuation) — nginx takes the byte after the header as a 1-byte
 *   literal;
 * - only one CR is allowed between `}` and LF (nginx skips any number);
 * - a literal length above 2^64-1 is invalid (nginx's check lets 2^64.. wrap to 0..);
 * - a literal that cannot fit the buffer is still answered `+ OK` (when synchronising), as nginx does;
 *   the command becomes `tooLong` once its bytes fill the buffer.
 */
import type { CommandScanner, ScanResult } from '../scanner.js';
import { classifyAuthenticate } from '../sasl.js';
import { Secret } from '../../secret.js';
import type { Command, FrameMode } from '../types.js';

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const PLUS = 0x2b;

const ST_TAG = 0;
const ST_SPACES_BEFORE_VERB = 1;
const ST_VERB = 2;
const ST_SPACES_BEFORE_ARG = 3;
const ST_ATOM = 4;
const ST_QUOTED = 5;
const ST_QUOTED_BACKSLASH = 6;
const ST_LITERAL_LENGTH = 7;
const ST_LITERAL_PLUS = 8;
const ST_LITERAL_HEADER_END = 9;
const ST_LITERAL_HEADER_CR = 10;
const ST_LITERAL_DATA = 11;
const ST_AFTER_LITERAL = 12;
const ST_ALMOST_DONE = 13;
const ST_INVALID = 14;

export const MAX_TAG_LENGTH = 32;
const MAX_ARGS = 3;
/** nginx refuses a literal length digit once the value exceeds SIZE_MAX / 10 (64-bit). */
const LITERAL_LENGTH_GUARD = 18446744073709551615n / 10n;
const LITERAL_LENGTH_MAX = 18446744073709551615n;

const isLetter = (ch: number): boolean => (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a);
const isDigit = (ch: number): boolean => ch >= 0x30 && ch <= 0x39;
export const isTagByte = (ch: number): boolean =>
  isLetter(ch) || isDigit(ch) || ch === 0x2d || ch === 0x2e || ch === 0x5f;

const VERBS = new Set(['LOGIN', 'LOGOUT', 'CAPABILITY', 'NOOP', 'STARTTLS', 'AUTHENTICATE']);

/** Removes quoted-string escapes: `\x` → `x`. */
function unescapeQuoted(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\' && i + 1 < raw.length) {
      out += raw[++i]!;
    } else {
      out += c;
    }
  }
  return out;
}

/** IMAP verbs → commands, with nginx's handler-level argument checks (→ `refused`). */
export function interpretImap(tag: string, verb: string, args: readonly string[]): Command {
  switch (verb) {
    case 'LOGIN':
      return args.length === 2 && args[0] !== ''
        ? { kind: 'login', tag, user: args[0]!, password: new Secret(args[1]!) }
        : { kind: 'refused', tag };
    case 'LOGOUT':
      return { kind: 'quit', tag };
    case 'CAPABILITY':
      return { kind: 'capability', tag };
    case 'NOOP':
      return { kind: 'noop', tag };
    case 'STARTTLS':
      return { kind: 'starttls', tag };
    case 'AUTHENTICATE':
      return classifyAuthenticate(args, tag);
    default:
      return { kind: 'invalid', tag };
  }
}

export class ImapScanner implements CommandScanner {
  #pos = 0;
  #state = ST_TAG;
  #tag: string | undefined;
  #verb = '';
  #verbStart = 0;
  #args: string[] = [];
  #argStart = 0;
  #backslash = false;
  #literalLength = 0n;
  #literalDigits = 0;
  #literalSync = true;
  #literalRemaining = 0;
  #sasl = false;

  constructor(private readonly bufferSize: number) {}

  get consumed(): number {
    return this.#pos;
  }

  get tag(): string | undefined {
    return this.#tag;
  }

  begin(mode: FrameMode): void {
    this.#pos = 0;
    this.#tag = undefined;
    this.#verb = '';
    this.#args = [];
    this.#backslash = false;
    this.#sasl = mode === 'sasl';
    if (this.#sasl) {
      // A SASL continuation line starts inside an atom-like argument (nginx: sw_argument).
      this.#state = ST_ATOM;
      this.#argStart = 0;
    } else {
      this.#state = ST_TAG;
    }
  }

  #complete(p: number, base: number, command: Command): ScanResult {
    this.#pos = p + 1 - base;
    return { type: 'complete', framed: { type: 'command', command } };
  }

  #finish(p: number, base: number): ScanResult {
    const command: Command = this.#sasl
      ? { kind: 'saslResponse', response: new Secret(this.#args[0] ?? '') }
      : interpretImap(this.#tag ?? '', this.#verb, this.#args);
    return this.#complete(p, base, command);
  }

  #invalid(data: Buffer, p: number, base: number): ScanResult {
    // nginx closes after an invalid command whose line ends in a non-synchronising literal
    // header ("...+}" before the LF, optionally with a CR), so the literal bytes are never run.
    let q = p - 1;
    if (q >= base && data[q] === CR) q--;
    const closeAfter = q - 1 >= base && data[q] === RBRACE && data[q - 1] === PLUS;
    const command: Extract<Command, { kind: 'invalid' }> = { kind: 'invalid' };
    if (this.#tag !== undefined && !this.#sasl) command.tag = this.#tag;
    if (closeAfter) command.closeAfter = true;
    return this.#complete(p, base, command);
  }

  scan(data: Buffer, base: number, end: number): ScanResult {
    let p = base + this.#pos;
    let state = this.#state;

    while (p < end) {
      const ch = data[p]!;
      switch (state) {
        case ST_TAG:
          if (ch === SP) {
            this.#tag = data.toString('latin1', base, p);
            state = ST_SPACES_BEFORE_VERB;
          } else if (!isTagByte(ch) || p - base >= MAX_TAG_LENGTH) {
            state = ST_INVALID;
            continue;
          }
          break;

        case ST_SPACES_BEFORE_VERB:
          if (ch !== SP) {
            this.#verbStart = p - base;
            state = ST_VERB;
            continue;
          }
          break;

        case ST_VERB:
          if (ch === SP || ch === CR || ch === LF) {
            const length = p - base - this.#verbStart;
            let verb = '';
            if (length >= 4 && length <= 12) {
              verb = data.toString('latin1', base + this.#verbStart, p).toUpperCase();
            }
            if (!VERBS.has(verb)) {
              state = ST_INVALID;
              continue;
            }
            this.#verb = verb;
            if (ch === SP) state = ST_SPACES_BEFORE_ARG;
            else if (ch === CR) state = ST_ALMOST_DONE;
            else return this.#finish(p, base);
          } else if (!isLetter(ch)) {
            state = ST_INVALID;
            continue;
          }
          break;

        case ST_SPACES_BEFORE_ARG:
          if (ch === SP) break;
          if (ch === CR) {
            state = ST_ALMOST_DONE;
            break;
          }
          if (ch === LF) return this.#finish(p, base);
          if (this.#args.length >= MAX_ARGS) {
            state = ST_INVALID;
            continue;
          }
          if (ch === DQUOTE) {
            this.#argStart = p + 1 - base;
            this.#backslash = false;
            state = ST_QUOTED;
          } else if (ch === LBRACE) {
            this.#literalLength = 0n;
            this.#literalDigits = 0;
            state = ST_LITERAL_LENGTH;
          } else {
            this.#argStart = p - base;
            state = ST_ATOM;
          }
          break;

        case ST_ATOM:
          if (ch === SP || ch === CR || ch === LF) {
            this.#args.push(data.toString('latin1', base + this.#argStart, p));
            if (ch === SP) state = ST_SPACES_BEFORE_ARG;
            else if (ch === CR) state = ST_ALMOST_DONE;
            else return this.#finish(p, base);
          }
          break;

        case ST_QUOTED:
          if (ch === DQUOTE) {
            const raw = data.toString('latin1', base + this.#argStart, p);
            this.#args.push(this.#backslash ? unescapeQuoted(raw) : raw);
            state = ST_SPACES_BEFORE_ARG;
          } else if (ch === BACKSLASH) {
            this.#backslash = true;
            state = ST_QUOTED_BACKSLASH;
          } else if (ch === CR || ch === LF) {
            state = ST_INVALID;
            continue;
          }
          break;

        case ST_QUOTED_BACKSLASH:
          if (ch === CR || ch === LF) {
            state = ST_INVALID;
            continue;
          }
          state = ST_QUOTED;
          break;

        case ST_LITERAL_LENGTH:
          if (this.#literalLength > LITERAL_LENGTH_GUARD) {
            state = ST_INVALID;
            continue;
          }
          if (isDigit(ch)) {
            this.#literalLength = this.#literalLength * 10n + BigInt(ch - 0x30);
            this.#literalDigits++;
            if (this.#literalLength > LITERAL_LENGTH_MAX) {
              state = ST_INVALID;
            }
          } else if (this.#literalDigits > 0 && ch === RBRACE) {
            this.#literalSync = true;
            state = ST_LITERAL_HEADER_END;
          } else if (this.#literalDigits > 0 && ch === PLUS) {
            state = ST_LITERAL_PLUS;
          } else {
            state = ST_INVALID;
            continue;
          }
          break;

        case ST_LITERAL_PLUS:
          if (ch === RBRACE) {
            this.#literalSync = false;
            state = ST_LITERAL_HEADER_END;
          } else {
            state = ST_INVALID;
            continue;
          }
          break;

        case ST_LITERAL_HEADER_END:
        case ST_LITERAL_HEADER_CR: {
          if (ch === CR && state === ST_LITERAL_HEADER_END) {
            state = ST_LITERAL_HEADER_CR;
            break;
          }
          if (ch !== LF) {
            state = ST_INVALID;
            continue;
          }
          // Header complete. Like nginx, a literal that cannot fit the buffer is still invited
          // (`+ OK` for a synchronising one); the buffer limit ends it once its bytes fill the buffer.
          const headerEnd = p + 1 - base;
          this.#literalRemaining = Number(
            this.#literalLength > BigInt(this.bufferSize) ? BigInt(this.bufferSize) + 1n : this.#literalLength,
          );
          this.#argStart = headerEnd;
          if (this.#literalRemaining === 0) {
            this.#args.push('');
            state = ST_AFTER_LITERAL;
          } else {
            state = ST_LITERAL_DATA;
          }
          if (this.#literalSync) {
            this.#pos = headerEnd;
            this.#state = state;
            return { type: 'continuation' };
          }
          break;
        }

        case ST_LITERAL_DATA: {
          const take = Math.min(this.#literalRemaining, end - p);
          this.#literalRemaining -= take;
          p += take;
          if (this.#literalRemaining === 0) {
            this.#args.push(data.toString('latin1', base + this.#argStart, p));
            state = ST_AFTER_LITERAL;
          }
          continue;
        }

        case ST_AFTER_LITERAL:
          if (ch === SP) state = ST_SPACES_BEFORE_ARG;
          else if (ch === CR) state = ST_ALMOST_DONE;
          else if (ch === LF) return this.#finish(p, base);
          else {
            state = ST_INVALID;
            continue;
          }
          break;

        case ST_ALMOST_DONE:
          if (ch === LF) return this.#finish(p, base);
          state = ST_INVALID;
          continue;

        default: // ST_INVALID: skip the rest of the line
          if (ch === LF) return this.#invalid(data, p, base);
          break;
      }
      p++;
    }
    this.#pos = p - base;
    this.#state = state;
    return { type: 'again' };
  }
}
