/**
 * Scenario scripts as data, and the runner that plays them against a mail proxy (nginx or
 * Postern) and records a transcript that can be compared after normalisation.
 *
 * A scenario is a list of client steps. The transcript contains:
 *   `C: ...`  what the client sent (the step's template text, control bytes escaped)
 *   `S: ...`  every line the server sent (CRLF stripped; `<LF>` marks a bare LF, `<noeol>` a
 *             partial line at EOF; bytes < 0x20 and >= 0x7f escaped as \xNN)
 *   `T: ...`  timing bucket of a `timed` read (`delayed` >= 800 ms, else `immediate`)
 *   `*: ...`  TLS established / closed by server
 *   `!: ...`  what went wrong (timeout / closed while reading / TLS failure / an expected
 *             failure that did not happen); the rest of the script is skipped. A scenario whose
 *             transcript has one is broken, even when both proxies have the same one.
 *   `*: TLS handshake failed (as expected)`: a `{ starttls: true, fails: true }` step
 *   `U: ...`  data that arrived after the last step without being read by the script
 *   `A: ...`  the auth_http requests the proxy sent during the scenario (raw header lines)
 */
import { createHash, createHmac } from 'node:crypto';
import { connect, type LineClient } from '../harness/index.js';
import type { AuthRequest } from '../harness/index.js';

export type ServerKey =
  | 'imap'
  | 'imapStarttls'
  | 'imapStarttlsOnly'
  | 'imaps'
  | 'pop3'
  | 'pop3Starttls'
  | 'pop3StarttlsOnly'
  | 'pop3s';

export const SERVER_KEYS: ServerKey[] = [
  'imap',
  'imapStarttls',
  'imapStarttlsOnly',
  'imaps',
  'pop3',
  'pop3Starttls',
  'pop3StarttlsOnly',
  'pop3s',
];

/** Servers whose listen has the `ssl` parameter (implicit TLS). */
export const IMPLICIT_TLS = new Set<ServerKey>(['imaps', 'pop3s']);

export type Step =
  /**
   * Send bytes (binary string). Templates: `{{b64:text}}` base64 of text,
   * `{{apop:password}}` MD5(salt + password) with the salt from the POP3 greeting,
   * `{{cram:user:password}}` base64("user " + HMAC-MD5(password, salt)) with the salt from the
   * last `+ <base64>` challenge, `{{var:name}}` a runner variable (e.g. a captured ClientHello).
   */
  | { send: string }
  /** Read `lines` lines. */
  | { lines: number; timed?: boolean }
  /** Read until a line starting with `tag + ' '` (IMAP). */
  | { tagged: string; timed?: boolean }
  /** Read a POP3 multi-line response up to `.`. */
  | { multiline: true }
  /**
   * Upgrade the connection to TLS in place. `fails`: the scenario expects the handshake to fail
   * (recorded as `*: TLS handshake failed (as expected)`, the rest of the script skipped); a
   * handshake that succeeds then is recorded as `!:`.
   */
  | { starttls: true; fails?: true }
  /** Expect the server to close (records whatever arrives before EOF). */
  | { closed: true }
  /** Wait `silence` ms expecting nothing (anything arriving is recorded as `U:`). */
  | { silence: number }
  /** Just wait. */
  | { sleep: number }
  /** The client closes (abortive). */
  | { hangup: true };

export interface Scenario {
  name: string;
  server: ServerKey;
  steps: Step[];
  /** What the scenario checks and the reference section. */
  note?: string;
}

export interface RunOptions {
  readTimeoutMs?: number;
  vars?: Record<string, string>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Escapes control bytes and bytes >= 0x7f of a binary string as \xNN. */
export function esc(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c < 0x20 || c >= 0x7f ? `\\x${c.toString(16).padStart(2, '0')}` : ch;
  }
  return out;
}

function renderRawLine(raw: string): string {
  if (raw.endsWith('\r\n')) return esc(raw.slice(0, -2));
  if (raw.endsWith('\n')) return `${esc(raw.slice(0, -1))}<LF>`;
  return `${esc(raw)}<noeol>`;
}

function renderChunk(prefix: string, data: string): string[] {
  const out: string[] = [];
  let rest = data;
  while (rest.length > 0) {
    const i = rest.indexOf('\n');
    if (i < 0) {
      out.push(`${prefix}${renderRawLine(rest)}`);
      break;
    }
    out.push(`${prefix}${renderRawLine(rest.slice(0, i + 1))}`);
    rest = rest.slice(i + 1);
  }
  return out;
}

interface SaltState {
  greetingSalt?: string;
  challengeSalt?: string;
}

function observe(line: string, st: SaltState): void {
  const g = /<\d+\.\d+@[^<>\s]*>/.exec(line);
  if (g && /^\+OK /.test(line)) st.greetingSalt = g[0];
  const ch = /^\+ ([A-Za-z0-9+/]+=*)$/.exec(line.replace(/\r?\n$/, ''));
  if (ch) {
    const decoded = Buffer.from(ch[1]!, 'base64').toString('latin1');
    if (/^<[^<>]+>$/.test(decoded)) st.challengeSalt = decoded;
  }
}

/** Expands the `{{...}}` templates of a send step. */
export function expand(template: string, st: SaltState, vars: Record<string, string>): string {
  return template.replace(/\{\{(b64|apop|cram|var):([^}]*)\}\}/g, (_m, kind: string, arg: string) => {
    switch (kind) {
      case 'b64':
        return Buffer.from(arg, 'latin1').toString('base64');
      case 'apop':
        return createHash('md5')
          .update(Buffer.from((st.greetingSalt ?? '') + arg, 'latin1'))
          .digest('hex');
      case 'cram': {
        const i = arg.indexOf(':');
        const user = arg.slice(0, i);
        const pass = arg.slice(i + 1);
        const digest = createHmac('md5', Buffer.from(pass, 'latin1'))
          .update(Buffer.from(st.challengeSalt ?? st.greetingSalt ?? '', 'latin1'))
          .digest('hex');
        return Buffer.from(`${user} ${digest}`, 'latin1').toString('base64');
      }
      default: {
        const v = vars[arg];
        if (v === undefined) throw new Error(`scenario variable ${arg} is not set`);
        return v;
      }
    }
  });
}

function describeError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/^timeout/.test(msg)) return 'timeout';
  if (/closed/.test(msg)) return 'closed while reading';
  return msg;
}

/** Consumes the complete lines already buffered (a trailing partial line stays). */
async function drain(c: LineClient): Promise<void> {
  while (c.pending().includes('\n')) await c.readRawLine(10);
}

/** Plays `scenario` against 127.0.0.1:`port`; returns the raw (unnormalised) transcript. */
export async function runScenario(scenario: Scenario, port: number, opts: RunOptions = {}): Promise<string[]> {
  const t: string[] = [];
  const readTimeout = opts.readTimeoutMs ?? 3000;
  const vars = opts.vars ?? {};
  const st: SaltState = {};
  let c: LineClient;
  try {
    c = await connect(port, IMPLICIT_TLS.has(scenario.server) ? { tls: true } : {});
  } catch (err) {
    return [`!: connect failed: ${describeError(err)}`];
  }
  if (IMPLICIT_TLS.has(scenario.server)) t.push(`*: TLS established ${c.tlsInfo()?.protocol ?? ''}`);
  const readLine = async (): Promise<string> => {
    const raw = await c.readRawLine(readTimeout);
    observe(raw, st);
    t.push(`S: ${renderRawLine(raw)}`);
    return raw.replace(/\r?\n$/, '');
  };
  let aborted = false;
  let hungUp = false;
  let closedSeen = false;
  try {
    for (const step of scenario.steps) {
      if ('send' in step) {
        t.push(...renderChunk('C: ', step.send));
        if (c.closed) {
          t.push('!: cannot send, connection closed');
          aborted = true;
          break;
        }
        await c.send(expand(step.send, st, vars)).catch((err: unknown) => {
          t.push(`!: send failed: ${describeError(err)}`);
        });
      } else if ('lines' in step) {
        const t0 = Date.now();
        for (let i = 0; i < step.lines; i++) await readLine();
        if (step.timed) t.push(`T: ${Date.now() - t0 >= 800 ? 'delayed' : 'immediate'}`);
      } else if ('tagged' in step) {
        const t0 = Date.now();
        for (;;) {
          const line = await readLine();
          if (line.startsWith(`${step.tagged} `)) break;
        }
        if (step.timed) t.push(`T: ${Date.now() - t0 >= 800 ? 'delayed' : 'immediate'}`);
      } else if ('multiline' in step) {
        for (;;) {
          const line = await readLine();
          if (line === '.' || line.startsWith('-ERR')) break;
        }
      } else if ('starttls' in step) {
        try {
          const s = await c.startTls({}, readTimeout);
          t.push(`*: TLS established ${s.getProtocol() ?? ''}`);
          if (step.fails) t.push('!: TLS handshake succeeded, the scenario expects it to fail');
        } catch (err) {
          t.push(step.fails ? '*: TLS handshake failed (as expected)' : '!: TLS handshake failed');
          void err;
          aborted = true;
          break;
        }
      } else if ('closed' in step) {
        try {
          const rest = await c.expectClosed(readTimeout);
          t.push(...renderChunk('S: ', rest));
          t.push('*: closed by server');
          closedSeen = true;
        } catch {
          t.push('!: still open');
          aborted = true;
          break;
        }
      } else if ('silence' in step) {
        await sleep(step.silence);
        const pending = c.pending();
        if (pending) {
          t.push(...renderChunk('U: ', pending));
          await drain(c);
        }
        if (c.closed) {
          const rest = c.pending();
          if (rest) t.push(...renderChunk('U: ', rest));
          t.push('*: closed by server');
          closedSeen = true;
          break;
        }
      } else if ('sleep' in step) {
        await sleep(step.sleep);
      } else if ('hangup' in step) {
        c.close();
        hungUp = true;
        t.push('*: client closed');
        break;
      }
    }
  } catch (err) {
    t.push(`!: ${describeError(err)}`);
    aborted = true;
  }
  if (!hungUp) {
    // Anything the script did not read (e.g. an extra line, or a close nobody expected).
    await sleep(aborted ? 0 : 150);
    const pending = c.pending();
    if (pending) t.push(...renderChunk('U: ', pending));
    if (c.closed && !closedSeen) t.push('*: closed by server');
    c.close();
  }
  return t;
}

/** Auth request lines for the transcript; APOP/CRAM-MD5 digests depend on the salt. */
export function authLines(requests: AuthRequest[]): string[] {
  const out: string[] = [];
  for (const [i, r] of requests.entries()) {
    const method = r.headers['auth-method'];
    const digest = method === 'apop' || method === 'cram-md5';
    out.push(`A: --- request ${i + 1}`);
    for (const l of r.lines) out.push(`A: ${esc(digest && /^Auth-Pass:/i.test(l) ? 'Auth-Pass: <DIGEST>' : l)}`);
  }
  return out;
}

/** The `!:` lines of a transcript: what went wrong in the scenario itself. */
export const scenarioErrors = (transcript: string[]): string[] => transcript.filter((l) => l.startsWith('!:'));

/** Shorthand: a command line with CRLF. */
export const L = (s: string): Step => ({ send: `${s}\r\n` });
