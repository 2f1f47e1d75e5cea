/**
 * nginx's configuration lexer: splits text into statements the way `ngx_conf_read_token` does.
 *
 * - A statement is words terminated by `;` (simple) or `{` (block start); `}` ends a block.
 * - Words are separated by space, tab, CR, LF. `#` starts a comment only where a word could start.
 * - `"..."` and `'...'` quote a word; a quoted word must be followed by space, `;`, `{` or `)`.
 * - A backslash protects the next character from the lexer; inside the word `\"`, `\'`, `\\`
 *   become the character, `\n`, `\t`, `\r` become LF, TAB, CR; any other `\x` stays as written.
 * - `${` inside a word does not start a block (variables; mail never expands them).
 * - `}` inside an unquoted word is part of the word, as in nginx.
 *
 * Lines are counted like nginx: errors and statements carry the line the lexer was on when it
 * read the terminating character (which is what `nginx -t` reports).
 */
import { ConfigError } from './errors.js';

export type Statement =
  | { kind: 'directive'; args: string[]; block: boolean; line: number }
  | { kind: 'end'; line: number }
  | { kind: 'eof'; line: number };

const isSpace = (ch: string): boolean => ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n';

/** Resolve backslash escapes inside one word, as nginx does when it copies the word. */
export function unescapeWord(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; ) {
    const ch = raw[i]!;
    if (ch === '\\' && i + 1 < raw.length) {
      const next = raw[i + 1]!;
      if (next === '"' || next === "'" || next === '\\') {
        out += next;
        i += 2;
        continue;
      }
      const control = next === 't' ? '\t' : next === 'r' ? '\r' : next === 'n' ? '\n' : undefined;
      if (control !== undefined) {
        out += control;
        i += 2;
        continue;
      }
    }
    out += ch;
    i += 1;
  }
  return out;
}

export class Lexer {
  private pos = 0;
  private line = 1;

  constructor(
    private readonly text: string,
    readonly file: string,
  ) {}

  /** The line the lexer is on now (the last line at end of file). */
  get currentLine(): number {
    return this.line;
  }

  private fail(reason: string): never {
    throw ConfigError.at(reason, { file: this.file, line: this.line });
  }

  /** The next statement; throws ConfigError on a lexical error. */
  next(): Statement {
    const args: string[] = [];
    let needSpace = false;
    let lastSpace = true;
    let comment = false;
    let variable = false;
    let escaped = false;
    let singleQuoted = false;
    let doubleQuoted = false;
    let start = this.pos;
    const text = this.text;

    const directive = (block: boolean): Statement => ({ kind: 'directive', args, block, line: this.line });

    for (;;) {
      if (this.pos >= text.length) {
        if (args.length > 0 || !lastSpace) this.fail('unexpected end of file, expecting ";" or "}"');
        return { kind: 'eof', line: this.line };
      }
      const ch = text[this.pos++]!;

      if (ch === '\n') {
        this.line++;
        comment = false;
      }
      if (comment) continue;
      if (escaped) {
        escaped = false;
        continue;
      }

      if (needSpace) {
        if (isSpace(ch)) {
          lastSpace = true;
          needSpace = false;
          continue;
        }
        if (ch === ';') return directive(false);
        if (ch === '{') return directive(true);
        if (ch === ')') {
          lastSpace = true;
          needSpace = false;
        } else {
          this.fail(`unexpected "${ch}"`);
        }
      }

      if (lastSpace) {
        start = this.pos - 1;
        if (isSpace(ch)) continue;
        switch (ch) {
          case ';':
          case '{':
            if (args.length === 0) this.fail(`unexpected "${ch}"`);
            return directive(ch === '{');
          case '}':
            if (args.length !== 0) this.fail('unexpected "}"');
            return { kind: 'end', line: this.line };
          case '#':
            comment = true;
            continue;
          case '\\':
            escaped = true;
            lastSpace = false;
            continue;
          case '"':
            start++;
            doubleQuoted = true;
            lastSpace = false;
            continue;
          case "'":
            start++;
            singleQuoted = true;
            lastSpace = false;
            continue;
          case '$':
            variable = true;
            lastSpace = false;
            continue;
          default:
            lastSpace = false;
        }
        continue;
      }

      if (ch === '{' && variable) continue;
      variable = false;
      if (ch === '\\') {
        escaped = true;
        continue;
      }
      if (ch === '$') {
        variable = true;
        continue;
      }

      let found = false;
      if (doubleQuoted) {
        if (ch === '"') {
          doubleQuoted = false;
          needSpace = true;
          found = true;
        }
      } else if (singleQuoted) {
        if (ch === "'") {
          singleQuoted = false;
          needSpace = true;
          found = true;
        }
      } else if (isSpace(ch) || ch === ';' || ch === '{') {
        lastSpace = true;
        found = true;
      }

      if (found) {
        args.push(unescapeWord(text.slice(start, this.pos - 1)));
        if (ch === ';') return directive(false);
        if (ch === '{') return directive(true);
      }
    }
  }
}
