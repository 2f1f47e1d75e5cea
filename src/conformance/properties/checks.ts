/**
 * Checks on one execution, shared by the properties: reply accounting (property 1), grammar
 * (property 2) and the comparable transcript (property 5).
 */
import { announcesClose, firstToken, greetingProblems, imapHasTag, isNegative, isPositive, refusesUnknownVerbEarly, replyLineProblems, replyProblems } from '../grammar.js';
import { knownQuirk, type QuirkHit } from '../quirks.js';
import { normalizeLine } from '../normalize.js';
import type { Context, Exchange, Execution, Protocol, ReceivedLine, Script } from '../types.js';

export const show = (s: string): string => JSON.stringify(s);
export const disp = (ex: Exchange): string => show(ex.line.label ?? ex.sent);
const replyText = (lines: ReceivedLine[]): string => lines.map((l) => show(l.text)).join(' / ');

/** The server was entitled to close after this exchange. */
function closeJustified(protocol: Protocol, script: Script, ex: Exchange): boolean {
  const kind = script.commands[ex.command]?.kind;
  return kind === 'quit' || kind === 'starttls' || !ex.complete || isNegative(protocol, ex.reply) || announcesClose(protocol, ex.reply);
}

/** IMAP: a reply cut by a close that announced it (`* BYE`, `* BAD internal server error`). */
function announcedTermination(protocol: Protocol, ex: Exchange): boolean {
  return protocol === 'imap' && ex.reply.length > 0 && ex.reply.every((l) => l.text.startsWith('* ')) && ex.reply.some((l) => /^\* (BYE|BAD)\b/i.test(l.text));
}

/**
 * An IMAP reply whose completion carries the tag of the (possibly incomplete) line `sent`:
 * the tag attributes it, so it may come before the line's end (Dovecot answers a command as
 * soon as it can: `a2 NOOP\r` before the LF, `z2 LOGIN a` refused before the line ends).
 */
function taggedFor(protocol: Protocol, sent: string, reply: ReceivedLine[]): boolean {
  const last = reply[reply.length - 1];
  if (protocol !== 'imap' || !last || !imapHasTag(sent)) return false;
  return reply.every((l, i) => (i === reply.length - 1 ? /^\S+ (OK|BAD|NO)\b/i.test(l.text) && firstToken(l.text) === firstToken(sent) : l.text.startsWith('* ')));
}

/**
 * ManageSieve, as Dovecot does it: a refusal of an unknown verb after the verb (and its space)
 * was sent, before the rest of the line; never a reply to a known command, never an OK.
 */
function unknownVerbRefusedEarly(protocol: Protocol, ex: Exchange, loggedIn: boolean): boolean {
  return ex.verbSeq >= 0 && ex.reply[0]!.seq > ex.verbSeq && refusesUnknownVerbEarly(protocol, ex.sent, ex.reply, loggedIn);
}

/** Whether a login succeeded before exchange `before` (all of them by default). */
function loggedInBefore(protocol: Protocol, script: Script, exec: Execution, before = exec.exchanges.length): boolean {
  return exec.exchanges.slice(0, before).some((ex) => {
    const kind = script.commands[ex.command]?.kind;
    return (kind === 'auth' || kind === 'login') && ex.complete && isPositive(protocol, ex.reply);
  });
}

/**
 * The partial line the client sent before disconnecting, refused for its unknown verb once the
 * verb and a space were out (ManageSieve, as Dovecot does it; see `unknownVerbRefusedEarly`).
 */
function partialRefusedEarly(protocol: Protocol, script: Script, exec: Execution, partial: string, line: ReceivedLine): boolean {
  return /^\S+ /.test(partial) && refusesUnknownVerbEarly(protocol, partial, [line], loggedInBefore(protocol, script, exec));
}

/** Property 1 on the exchanges from index `from` on (all by default). */
export function replyAccounting(ctx: Context, script: Script, exec: Execution, from = 0): string[] {
  const out: string[] = [];
  const p = ctx.protocol;
  if (from === 0 && !exec.greetingComplete) out.push(`no complete greeting${exec.serverClosed ? ' before the server closed the connection' : ''}`);
  if (exec.timedOut) out.push(`the run did not finish within ${ctx.timeoutMs} ms`);
  const timeouts = exec.notes.filter((n) => n.kind === 'timeout');
  let unanswered = false;
  exec.exchanges.forEach((ex, idx) => {
    if (idx < from) return;
    if (ex.reply.length === 0) {
      if (!exec.serverClosed) {
        if (!unanswered) out.push(`no reply to ${disp(ex)}${timeouts.length > 0 ? ` within ${ctx.replyTimeoutMs} ms` : ''}`);
      } else if (!unanswered) {
        const prev = exec.exchanges[idx - 1];
        if (!prev) out.push(`the server closed the connection without answering ${disp(ex)}`);
        else if (!closeJustified(p, script, prev)) {
          out.push(`the server closed the connection without answering ${disp(ex)}; the reply before it (to ${disp(prev)}: ${replyText(prev.reply)}) gave no reason to close`);
        }
      }
      unanswered = true;
      return;
    }
    if (!ex.complete && !(exec.serverClosed && announcedTermination(p, ex))) {
      out.push(`incomplete reply to ${disp(ex)}: ${replyText(ex.reply)}${exec.serverClosed ? ' (then the connection closed)' : ''}`);
    }
    const first = ex.reply[0]!;
    // A line longer than the server's buffer may be refused before its end arrives, and in
    // ManageSieve an unknown verb once the verb and its space went out; an IMAP reply tagged for
    // this line is attributed by its tag.
    const kind = script.commands[ex.command]?.kind;
    const mayBeEarly = kind === 'overlong' || (kind === 'bad' && unknownVerbRefusedEarly(p, ex, loggedInBefore(p, script, exec, idx)));
    if (ex.sentSeq >= 0 && first.seq < ex.sentSeq && !mayBeEarly && !taggedFor(p, ex.sent, ex.reply)) {
      out.push(`${show(first.text)} arrived before ${disp(ex)} was completely sent: it answers an earlier line (a second reply) or nothing`);
    }
    if (p === 'imap' && ex.complete) {
      const last = ex.reply[ex.reply.length - 1]!;
      const m = /^(\S+) (OK|NO|BAD)\b/i.exec(last.text);
      const cmd = script.commands[ex.command];
      if (m && m[1] !== '*' && m[1] !== '+' && m[1] !== cmd?.tag && m[1] !== firstToken(ex.sent)) {
        out.push(`the reply to ${disp(ex)} is tagged ${show(m[1]!)}, expected ${show(cmd?.tag ?? firstToken(ex.sent))}: replies out of order`);
      }
    }
  });
  const partial = script.end.kind === 'disconnect' ? script.end.partial : '';
  const extra = exec.extra.filter(
    (l) =>
      !(exec.serverClosed && p === 'imap' && /^\* BYE\b/i.test(l.text)) &&
      !(l.where === 'before the client disconnected' && taggedFor(p, partial, [l]) && !/^\S+ OK\b/i.test(l.text)) &&
      !(l.where === 'before the client disconnected' && partialRefusedEarly(p, script, exec, partial, l)),
  );
  if (extra.length > 0) {
    const where = [...new Set(extra.map((l) => l.where))].join('; ');
    out.push(`${extra.length} line(s) answer no command (${where}): ${replyText(extra)}`);
  }
  return out;
}

/**
 * Property 2: the grammar problems, and apart from them the problems that are known nginx
 * quirks (src/conformance/quirks.ts) in exactly the situation that makes them.
 */
export function grammarProblems(ctx: Context, exec: Execution): { problems: string[]; quirks: QuirkHit[] } {
  const problems: string[] = [];
  const quirks: QuirkHit[] = [];
  if (exec.greeting.length > 0) problems.push(...greetingProblems(ctx.protocol, exec.greeting));
  exec.exchanges.forEach((ex, index) => {
    for (const { line, problem } of replyLineProblems(ctx.protocol, ex.sent, ex.reply)) {
      const text = `${problem} (reply to ${disp(ex)})`;
      const quirk = knownQuirk('reply-grammar', ctx.protocol, problem, exec, index, line);
      if (quirk) quirks.push({ id: quirk.id, problem: text });
      else problems.push(text);
    }
  });
  for (const l of exec.extra) {
    for (const p of replyProblems(ctx.protocol, '', [l])) problems.push(`${p} (${l.where})`);
  }
  return { problems, quirks };
}

/**
 * Property 5: what must not depend on how the bytes were split. Only answered lines count
 * (a line written into a connection the server was already closing may or may not have left
 * the client), then how the session ended.
 */
export function comparableTranscript(ctx: Context, script: Script, exec: Execution): string[] {
  const norm = (s: string) => normalizeLine(s, ctx.normalize);
  const items: Array<{ seq: number; lines: string[] }> = [];
  items.push({ seq: -1, lines: exec.greeting.map((l) => `S: ${norm(l.text)}`) });
  for (const ex of exec.exchanges) {
    if (ex.reply.length === 0) continue;
    items.push({
      seq: ex.startSeq,
      lines: [`C: ${norm(ex.line.label ?? ex.sent)}`, ...ex.reply.map((l) => `S: ${norm(l.text)}${l.eol === '' ? '    (unterminated)' : ''}`), ...(ex.complete ? [] : ['*: (incomplete reply)'])],
    });
  }
  for (const n of exec.notes) if (n.kind === 'tls' || n.kind === 'tls-failed') items.push({ seq: n.seq, lines: [`*: ${n.kind === 'tls' ? 'TLS established' : 'TLS handshake failed'}`] });
  const out = items.sort((a, b) => a.seq - b.seq).flatMap((i) => i.lines);
  for (const l of exec.extra) out.push(`S: ${norm(l.text)}    (unexpected)`);
  if (script.end.kind !== 'disconnect') out.push(exec.serverClosed ? '*: closed by the server' : '*: open');
  return out;
}
