/**
 * Splits a whole nginx.conf of nginx's Perl tests into the part the real nginx serves (everything
 * but `mail { }`, mostly the tests' `http { }` auth_http endpoint) and the part Postern serves
 * (the whole file: Postern skips the blocks other than `mail`), with each process given its own
 * pid file so that the two never overwrite each other's.
 *
 * Only the top level is looked at, with just enough of nginx's lexer (ngx_conf_file.c) to find
 * where statements begin and end: words, "double" and 'single' quoted strings with backslash
 * escapes, `#` comments, `${var}` inside a word, and `{`, `}`, `;`.
 */

interface Token {
  kind: 'word' | '{' | '}' | ';';
  start: number;
  end: number;
  text: string;
}

function* tokens(text: string): Generator<Token> {
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '{' || c === '}' || c === ';') {
      yield { kind: c, start: i, end: i + 1, text: c };
      i++;
    } else if (c === '"' || c === "'") {
      const start = i++;
      while (i < text.length && text[i] !== c) i += text[i] === '\\' ? 2 : 1;
      i++;
      yield { kind: 'word', start, end: i, text: text.slice(start + 1, i - 1) };
    } else {
      const start = i;
      while (i < text.length && !/[\s;{}"']/.test(text[i]!)) {
        if (text[i] === '\\') i++;
        else if (text[i] === '$' && text[i + 1] === '{') while (i < text.length && text[i] !== '}') i++;
        i++;
      }
      yield { kind: 'word', start, end: i, text: text.slice(start, i) };
    }
  }
}

/** A top-level statement: its name and where it begins and ends (past its `;` or closing `}`). */
interface TopStatement {
  name: string;
  start: number;
  end: number;
  /** For a simple statement, where its arguments are (the `pid` path is replaced there). */
  args?: { start: number; end: number; values: string[] };
}

export class ConfigSplitError extends Error {}

function topStatements(text: string): TopStatement[] {
  const found: TopStatement[] = [];
  let depth = 0;
  let current: Token[] = [];
  for (const token of tokens(text)) {
    if (token.kind === 'word') {
      current.push(token);
      continue;
    }
    if (token.kind === '{') {
      if (depth === 0) {
        if (current.length === 0) throw new ConfigSplitError(`unexpected "{" at offset ${token.start}`);
        found.push({ name: current[0]!.text, start: current[0]!.start, end: -1 });
      }
      depth++;
    } else if (token.kind === '}') {
      if (depth === 0) throw new ConfigSplitError(`unexpected "}" at offset ${token.start}`);
      depth--;
      if (depth === 0) found[found.length - 1]!.end = token.end;
    } else if (depth === 0 && current.length > 0) {
      const args = current.slice(1);
      found.push({
        name: current[0]!.text,
        start: current[0]!.start,
        end: token.end,
        args: { start: args[0]?.start ?? token.start, end: args.at(-1)?.end ?? token.start, values: args.map((a) => a.text) },
      });
    }
    current = [];
  }
  if (depth !== 0) throw new ConfigSplitError('unexpected end of file, expecting "}"');
  return found;
}

/** Replaces the given ranges of `text` (in any order, not overlapping). */
function splice(text: string, edits: { start: number; end: number; with: string }[]): string {
  let out = text;
  for (const edit of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, edit.start) + edit.with + out.slice(edit.end);
  return out;
}

const quote = (path: string): string => `"${path.replace(/["\\]/g, '\\$&')}"`;

export interface SplitConfig {
  /** The file without its top-level `mail { }` blocks, for nginx. */
  nginx: string;
  /** The whole file, for Postern (it skips the other blocks). */
  postern: string;
  /** Whether there is a `mail { }` block at all. */
  hasMail: boolean;
  /** The `pid` path the file names (as written, unresolved), if any. */
  pid: string | undefined;
}

/**
 * The two configurations: `pid` (if present) is replaced by `nginxPid` and `posternPid`
 * respectively; everything else, `error_log` included, is left as written, so both processes
 * append to the log files the test reads.
 */
export function splitConfig(text: string, files: { nginxPid: string; posternPid: string }): SplitConfig {
  const statements = topStatements(text);
  const mail = statements.filter((s) => s.name === 'mail' && s.args === undefined);
  const pids = statements.filter((s) => s.name === 'pid' && s.args !== undefined);
  if (pids.length > 1) throw new ConfigSplitError('"pid" directive is duplicate');
  const pid = pids[0]?.args;
  const withPid = (path: string) => (pid === undefined ? [] : [{ start: pid.start, end: pid.end, with: quote(path) }]);
  return {
    nginx: splice(text, [...mail.map((s) => ({ start: s.start, end: s.end, with: '' })), ...withPid(files.nginxPid)]),
    postern: splice(text, withPid(files.posternPid)),
    hasMail: mail.length > 0,
    pid: pid?.values[0],
  };
}

/** The `pid` path in nginx's `-g` globals (`pid FILE; error_log ...;`), and the globals with it replaced. */
export function splitGlobals(globals: string, pidPath: string): { pid: string | undefined; globals: string } {
  const pids = topStatements(globals).filter((s) => s.name === 'pid' && s.args !== undefined);
  const pid = pids[0]?.args;
  if (pid === undefined) return { pid: undefined, globals };
  return { pid: pid.values[0], globals: splice(globals, [{ start: pid.start, end: pid.end, with: quote(pidPath) }]) };
}

/**
 * The arguments of the first top-level `error_log` of `text`, each quoted, ready for `-g`. A file
 * with an `http { }` block serves nginx too, so Postern takes neither its `pid` nor its main
 * `error_log` from it unless `-g` names them (docs/operations.md, "Beside nginx"): the wrapper
 * names Postern's pid file and the tests' error log that way.
 */
export function mainErrorLog(text: string): string | undefined {
  const statement = topStatements(text).find((s) => s.name === 'error_log' && s.args !== undefined);
  return statement?.args?.values.map(quote).join(' ');
}
