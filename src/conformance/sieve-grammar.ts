/**
 * ManageSieve (RFC 5804 §4) server responses, as a black-box client reads them, written from the
 * RFC and independent of Postern's own dialect:
 *
 *   response     = *data-line status-line / challenge-line
 *   status-line  = ("OK" / "NO" / "BYE") [SP "(" resp-code ")"] [SP string] CRLF
 *   resp-code    = atom [SP (string / atom)]          (TAG "x", SASL "...", QUOTA/MAXSIZE, TRYLATER...)
 *   data-line    = string *(SP (string / atom)) CRLF  (capabilities, LISTSCRIPTS' `"name" ACTIVE`)
 *   string       = quoted / literal
 *   quoted       = DQUOTE *(any byte but DQUOTE, \, CR, LF, NUL / "\" (DQUOTE / "\")) DQUOTE
 *   literal      = "{" number "}" CRLF *OCTET          (the server's literals have no "+")
 *
 * A line here is what ends with CRLF outside a literal: a literal's bytes (which may hold CR LF)
 * stay inside the line that announces them.
 */

/** Splits server output into ManageSieve lines (without their CRLF); `rest` is an unfinished line. */
export function sieveLines(text: string): { lines: string[]; rest: string } {
  const lines: string[] = [];
  let start = 0;
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n', at);
    if (end < 0) return { lines, rest: text.slice(start) };
    const literal = /\{(\d{1,9})\}$/.exec(text.slice(at, end));
    if (literal !== null) {
      const after = end + 2 + Number(literal[1]);
      if (after > text.length) return { lines, rest: text.slice(start) };
      at = after;
      continue;
    }
    lines.push(text.slice(start, end));
    start = at = end + 2;
  }
}

const QUOTED = /^"(?:[^"\\\r\n\0]|\\["\\])*"/;
const LITERAL = /^\{(\d{1,9})\}\r\n/;
const ATOM = /^[A-Za-z0-9][A-Za-z0-9!#$&'*+,\-./:;<=>?@[\]^_`|~]*/;

/** The length of the string at the start of `text`, or -1. */
function stringLength(text: string): number {
  const quoted = QUOTED.exec(text);
  if (quoted) return quoted[0].length;
  const literal = LITERAL.exec(text);
  if (literal && text.length >= literal[0].length + Number(literal[1])) return literal[0].length + Number(literal[1]);
  return -1;
}

/** Whether the rest of a line is words: each SP then a string or (with `atoms`) an atom. */
function restIsWords(text: string, atoms: boolean): boolean {
  let rest = text;
  while (rest.length > 0) {
    if (!rest.startsWith(' ')) return false;
    rest = rest.slice(1);
    const n = stringLength(rest);
    if (n > 0) {
      rest = rest.slice(n);
      continue;
    }
    const atom = atoms ? ATOM.exec(rest) : null;
    if (atom === null) return false;
    rest = rest.slice(atom[0].length);
  }
  return true;
}

export type SieveLineKind = 'ok' | 'no' | 'bye' | 'data';

/** What a line is (status or data), or null when it is neither (a grammar problem). */
export function sieveLineKind(line: string): SieveLineKind | null {
  const status = /^(OK|NO|BYE)(?=[ ]|$)/i.exec(line);
  if (status !== null) {
    let rest = line.slice(status[0].length);
    if (rest.startsWith(' (')) {
      const name = ATOM.exec(rest.slice(2));
      if (name === null) return null;
      rest = rest.slice(2 + name[0].replace(/\)+$/, '').length);
      // Arguments of the code: strings (which may hold ")") or atoms, up to the ")".
      while (!rest.startsWith(')')) {
        if (!rest.startsWith(' ')) return null;
        rest = rest.slice(1);
        const n = stringLength(rest);
        const atom = n > 0 ? null : ATOM.exec(rest);
        if (n <= 0 && atom === null) return null;
        rest = rest.slice(n > 0 ? n : atom![0].replace(/\)+$/, '').length);
      }
      rest = rest.slice(1);
    }
    if (rest.length > 0) {
      if (!rest.startsWith(' ') || stringLength(rest.slice(1)) !== rest.length - 1) return null;
    }
    return status[1]!.toLowerCase() as SieveLineKind;
  }
  const first = stringLength(line);
  if (first <= 0 || !restIsWords(line.slice(first), true)) return null;
  return 'data';
}

/** Problems in complete server output (everything up to a CRLF), or null. */
export function sieveOutputProblem(output: string): string | null {
  if (output === '') return null;
  const { lines, rest } = sieveLines(output);
  for (const line of lines) if (sieveLineKind(line) === null) return `reply line ${JSON.stringify(line.slice(0, 200))} is not a ManageSieve response line`;
  if (rest !== '') return `does not end with CRLF: ...${JSON.stringify(rest.slice(-80))}`;
  return null;
}
