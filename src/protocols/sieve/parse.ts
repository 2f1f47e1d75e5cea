/**
 * ManageSieve command parsing before authentication (RFC 5804 §4; nginx has no ManageSieve), an
 * incremental scanner in the style of the IMAP one:
 *
 *   line     = verb *( 1*SP string ) *SP [CR] LF
 *   verb     = letters: CAPABILITY NOOP LOGOUT STARTTLS AUTHENTICATE (case-insensitive)
 *   string   = quoted / literal                  (at most 2 per line; atoms are not arguments)
 *   quoted   = DQUOTE *( byte but DQUOTE \ NUL CR LF / "\" ( DQUOTE / "\" ) ) DQUOTE
 *   literal  = "{" 1*DIGIT ["+"] "}" [CR] LF <N raw bytes>   then only SP, CR LF or LF
 *
 * A SASL continuation line (read in `sasl` mode) is exactly one string then [CR] LF; `"*"`
 * (the client's cancel) arrives as the response `*`, which no SASL step accepts.
 *
 * ManageSieve has no continuation reply for literals (RFC 5804 §4: client literals are
 * `{N+}`): `{N}` is read the same way, as Dovecot's managesieve-login does. A literal that
 * cannot fit the client buffer is `tooLong` as soon as its header is read. A line that is
 * invalid and ends in a literal header (`... {N}` CRLF) is `closeAfter`: the literal bytes the
 * client sends next must never be read as commands.
 *
 * An unknown verb makes the line invalid at once: its arguments are not read (a literal it
 * announces included, hence `closeAfter`).
 *
 * Wrong arguments for a known verb (`CAPABILITY x`, `NOOP "a" "b"`, `AUTHENTICATE` with no
 * mechanism) are parse-level invalid commands, counted against `max_errors`: Dovecot counts
 * them too.
 */
import type { CommandScanner, ScanResult } from '../scanner.js';
import { classifyAuthenticate } from '../sasl.js';
import { Secret } from '../../secret.js';
import type { Command, FrameMode } from '../types.js';

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const PLUS = 0x2b;

const ST_VERB = 0;
const ST_SPACES_BEFORE_ARG = 1;
const ST_STRING_START = 2;
const ST_QUOTED = 3;
const ST_QUOTED_BACKSLASH = 4;
const ST_LITERAL_LENGTH = 5;
const ST_LITERAL_PLUS = 6;
const ST_LITERAL_HEADER_END = 7;
const ST_LITERAL_HEADER_CR = 8;
const ST_LITERAL_DATA = 9;
const ST_AFTER_ARG = 10;
const ST_ALMOST_DONE = 11;
const ST_INVALID = 12;

/** AUTHENTICATE takes a mechanism and an initial response; every other verb fewer. */
const MAX_ARGS = 2;
/** The longest verb (AUTHENTICATE); a longer run of letters is no verb. */
const MAX_VERB_LENGTH = 12;
/** Literal lengths are counted only this far: anything longer cannot fit any client buffer. */
const LITERAL_LENGTH_CAP = Number.MAX_SAFE_INTEGER / 10;

const VERBS = new Set(['CAPABILITY', 'NOOP', 'LOGOUT', 'STARTTLS', 'AUTHENTICATE']);

const isLetter = (ch: number): boolean => (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a);
const isDigit = (ch: number): boolean => ch >= 0x30 && ch <= 0x39;

/** Removes quoted-string escapes (`\"` → `"`, `\\` → `\`; no other escape is valid). */
function unescapeQuoted(raw: string): string {
  return raw.replace(/\\([\\"])/g, '$1');
}

/** ManageSieve verbs → commands (only what is allowed before authentication exists). */
export function interpretSieve(verb: string, args: readonly string[]): Command {
  switch (verb) {
    case 'CAPABILITY':
      return args.length === 0 ? { kind: 'capability' } : { kind: 'invalid' };
    case 'NOOP':
      // RFC 5804 §2.14: the optional argument is a tag the server echoes as `OK (TAG "...")`.
      if (args.length === 0) return { kind: 'noop' };
      return args.length === 1 ? { kind: 'noop', tag: args[0]! } : { kind: 'invalid' };
    case 'LOGOUT':
      return args.length === 0 ? { kind: 'quit' } : { kind: 'invalid' };
    case 'STARTTLS':
      return args.length === 0 ? { kind: 'starttls' } : { kind: 'invalid' };
    case 'AUTHENTICATE':
      return args.length >= 1 && args[0] !== '' ? classifyAuthenticate(args, undefined) : { kind: 'invalid' };
    default:
      return { kind: 'invalid' };
  }
}

export class SieveScanner implements CommandScanner {
  #pos = 0;
  #state = ST_VERB;
  #verb = '';
  #args: string[] = [];
  #argStart = 0;
  #backslash = false;
  #literalLength = 0;
  #literalDigits = 0;
  #literalRemaining = 0;
  #sasl = false;

  constructor(private readonly bufferSize: number) {}

  get consumed(): number {
    return this.#pos;
  }

  /** ManageSieve has no tags (NOOP's echo tag is an argument, not a line prefix). */
  get tag(): string | undefined {
    return undefined;
  }

  begin(mode: FrameMode): void {
    this.#pos = 0;
    this.#verb = '';
    this.#args = [];
    this.#sasl = mode === 'sasl';
    this.#state = this.#sasl ? ST_STRING_START : ST_VERB;
  }

  #complete(p: number, base: number, command: Command): ScanResult {
    this.#pos = p + 1 - base;
    return { type: 'complete', framed: { type: 'command', command } };
  }

  #finish(p: number, base: number): ScanResult {
    // In sasl mode the line ends only after its one string (an empty line is invalid).
    if (this.#sasl) return this.#complete(p, base, { kind: 'saslResponse', response: new Secret(this.#args[0]!) });
    return this.#complete(p, base, interpretSieve(this.#verb, this.#args));
  }

  #invalid(data: Buffer, p: number, base: number): ScanResult {
    // A line ending in a literal header announces bytes that are not commands: close after it.
    let q = p - 1;
    if (q >= base && data[q] === CR) q--;
    let closeAfter = false;
    if (q >= base && data[q] === RBRACE) {
      q--;
      if (q >= base && data[q] === PLUS) q--;
      let digits = 0;
      while (q >= base && isDigit(data[q]!)) {
        q--;
        digits++;
      }
      closeAfter = digits > 0 && q >= base && data[q] === LBRACE;
    }
    return this.#complete(p, base, closeAfter ? { kind: 'invalid', closeAfter: true } : { kind: 'invalid' });
  }

  scan(data: Buffer, base: number, end: number): ScanResult {
    let p = base + this.#pos;
    let state = this.#state;

    while (p < end) {
      const ch = data[p]!;
      switch (state) {
        case ST_VERB:
          if (isLetter(ch) && p - base < MAX_VERB_LENGTH) break;
          if ((ch === SP || ch === CR || ch === LF) && p > base) {
            this.#verb = data.toString('latin1', base, p).toUpperCase();
            if (!VERBS.has(this.#verb)) {
              state = ST_INVALID;
              continue;
            }
            if (ch === SP) state = ST_SPACES_BEFORE_ARG;
            else if (ch === CR) state = ST_ALMOST_DONE;
            else return this.#finish(p, base);
            break;
          }
          state = ST_INVALID;
          continue;

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
          state = ST_STRING_START;
          continue;

        case ST_STRING_START:
          if (ch === DQUOTE) {
            this.#argStart = p + 1 - base;
            this.#backslash = false;
            state = ST_QUOTED;
          } else if (ch === LBRACE) {
            this.#literalLength = 0;
            this.#literalDigits = 0;
            state = ST_LITERAL_LENGTH;
          } else {
            state = ST_INVALID;
            continue;
          }
          break;

        case ST_QUOTED:
          if (ch === DQUOTE) {
            const raw = data.toString('latin1', base + this.#argStart, p);
            this.#args.push(this.#backslash ? unescapeQuoted(raw) : raw);
            state = ST_AFTER_ARG;
          } else if (ch === BACKSLASH) {
            this.#backslash = true;
            state = ST_QUOTED_BACKSLASH;
          } else if (ch === CR || ch === LF || ch === NUL) {
            state = ST_INVALID;
            continue;
          }
          break;

        case ST_QUOTED_BACKSLASH:
          if (ch !== DQUOTE && ch !== BACKSLASH) {
            state = ST_INVALID;
            continue;
          }
          state = ST_QUOTED;
          break;

        case ST_LITERAL_LENGTH:
          if (isDigit(ch)) {
            if (this.#literalLength < LITERAL_LENGTH_CAP) this.#literalLength = this.#literalLength * 10 + (ch - 0x30);
            this.#literalDigits++;
            break;
          }
          if (this.#literalDigits > 0 && ch === RBRACE) {
            state = ST_LITERAL_HEADER_END;
            break;
          }
          if (this.#literalDigits > 0 && ch === PLUS) {
            state = ST_LITERAL_PLUS;
            break;
          }
          state = ST_INVALID;
          continue;

        case ST_LITERAL_PLUS:
          if (ch !== RBRACE) {
            state = ST_INVALID;
            continue;
          }
          state = ST_LITERAL_HEADER_END;
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
          const headerEnd = p + 1 - base;
          // No continuation is ever sent, so a literal that cannot fit is refused at once.
          if (headerEnd + this.#literalLength > this.bufferSize) {
            this.#pos = headerEnd;
            this.#state = ST_INVALID;
            return { type: 'tooLong' };
          }
          this.#argStart = headerEnd;
          this.#literalRemaining = this.#literalLength;
          if (this.#literalRemaining === 0) {
            this.#args.push('');
            state = ST_AFTER_ARG;
          } else {
            state = ST_LITERAL_DATA;
          }
          break;
        }

        case ST_LITERAL_DATA: {
          const take = Math.min(this.#literalRemaining, end - p);
          this.#literalRemaining -= take;
          p += take;
          if (this.#literalRemaining === 0) {
            this.#args.push(data.toString('latin1', base + this.#argStart, p));
            state = ST_AFTER_ARG;
          }
          continue;
        }

        case ST_AFTER_ARG:
          if (ch === SP && !this.#sasl) state = ST_SPACES_BEFORE_ARG;
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
