/**
 * Plays one script against the target over one connection and records what came back:
 * the greeting, one exchange per line that expects a reply, surplus lines, closes, TLS.
 *
 * Lines are grouped into bursts (pipelining) where the script allows it and the client may
 * (never after a line whose reply it must see first: SASL steps, `{N}` literals, STARTTLS),
 * within the pipelining budget. Each burst is written in chunks cut at the script's split
 * points, with a short pause between chunks so the server reads them separately; an over-long
 * line is cut only within the burst's first OVERLONG_CUT_WINDOW bytes (`writeBoundaries`).
 */
import { createHmac } from 'node:crypto';
import { flatten } from './generators/common.js';
import { isPositive, replyComplete, saslChallenge, saslResponse, speaksAfterStarttls } from './grammar.js';
import type { ClientLine, Context, Execution, Protocol, ReceivedLine, Script } from './types.js';
import { Wire } from './wire.js';

export interface ExecuteOptions {
  /** Cut points to use instead of the script's own (property 5). */
  splits?: number[][];
}

interface ReplyRead {
  lines: ReceivedLine[];
  complete: boolean;
  status: 'ok' | 'eof' | 'timeout';
}

export async function readReply(wire: Wire, protocol: Protocol, sent: string | null, deadline: number): Promise<ReplyRead> {
  const lines: ReceivedLine[] = [];
  for (;;) {
    const r = await wire.nextLine(deadline);
    if (r === 'eof') return { lines, complete: false, status: 'eof' };
    if (r === 'timeout') return { lines, complete: false, status: 'timeout' };
    lines.push(r);
    if (r.eol !== '' && replyComplete(protocol, sent, lines)) return { lines, complete: true, status: 'ok' };
  }
}

/** The text to send for a line (dynamic lines are computed from the previous reply). */
export function resolveLine(l: ClientLine, previous: ReceivedLine[], protocol: Protocol): string {
  if (!l.dynamic) return l.text;
  const encoded = saslChallenge(protocol, previous[previous.length - 1]?.text ?? '');
  if (encoded === null) return l.text;
  const challenge = Buffer.from(encoded, 'base64').toString('latin1');
  const digest = createHmac('md5', Buffer.from(l.dynamic.password, 'latin1')).update(challenge, 'latin1').digest('hex');
  return saslResponse(protocol, Buffer.from(`${l.dynamic.user} ${digest}`, 'latin1').toString('base64'));
}

export function display(l: ClientLine, sent: string): string {
  return l.label ?? sent;
}

/**
 * How many bytes of a burst at most go out before its last write once an over-long line (a line
 * of a command of kind `overlong`) has started in it: fewer than the smallest command buffer a
 * server may have (nginx 1.22.1: POP3 a fixed 128 bytes, `imap_client_buffer` and
 * `smtp_client_buffer` 4k or 8k by default).
 *
 * Why: a server that finds a line longer than its buffer answers and closes with the rest of the
 * line unread, so its kernel resets the connection (nginx: "client sent too long command",
 * 500 / -ERR / BAD, close). If the client writes again after that, the write meets the reset and
 * Node destroys the socket with the reply unread in its receive queue: the run sees a reset and
 * no reply, depending on timing (docs/conformance.md). A server holding at most this many bytes
 * of the burst cannot have found the line too long yet, so it cannot answer before the last write,
 * and after the last write the client only reads.
 */
export const OVERLONG_CUT_WINDOW = 100;

/** One line of a burst as the writer cuts it. */
export interface BurstLine {
  /** Its bytes, line end included. */
  length: number;
  /** Cut points, fractions x 10000 of its bytes (0: between it and the line before). */
  cuts: number[];
  /** A line of an over-long command. */
  overlong: boolean;
  /** Cut only before the line, never inside it (a burst with lines pipelined behind STARTTLS). */
  whole: boolean;
}

/**
 * Where a burst's bytes are cut into writes: offsets inside the burst, ascending, each the end of
 * one write and the start of the next.
 *
 * Short lines are cut where their cut points fall. Once an over-long line starts at offset `s`,
 * no cut is made after max(s, OVERLONG_CUT_WINDOW): the over-long line's own cut points are
 * scaled into that window (a 5 kB line drawn with a cut at 60% is cut after 60 of its first 100
 * bytes), so it still reaches the server in several reads; the rest of the line and everything
 * pipelined behind it go out in one last write.
 */
export function writeBoundaries(lines: BurstLine[]): number[] {
  const out = new Set<number>();
  let offset = 0;
  let limit = Number.POSITIVE_INFINITY;
  for (const l of lines) {
    if (l.overlong && limit === Number.POSITIVE_INFINITY) limit = Math.max(offset, OVERLONG_CUT_WINDOW);
    const span = l.overlong ? Math.min(l.length, Math.max(0, limit - offset)) : l.length;
    for (const c of l.cuts) {
      const pos = Math.floor((c * span) / 10000);
      if (pos > 0 && l.whole) continue;
      out.add(offset + pos);
    }
    offset += l.length;
  }
  const total = offset;
  return [...out].filter((p) => p > 0 && p < total && p <= limit).sort((a, b) => a - b);
}

type FlatLine = ReturnType<typeof flatten>[number];

/**
 * The last line of the burst that starts at flattened line `i`: lines travel together while the
 * script pipelines them, the client may (no SASL step, `{N}` literal or STARTTLS before the next
 * line, no computed line behind) and the burst stays within the pipelining budget.
 */
export function burstEnd(script: Script, flat: FlatLine[], i: number, pipelineBudget: number): number {
  const size = (k: number) => flat[k]!.line.text.length + flat[k]!.line.eol.length;
  let j = i;
  let bytes = size(i);
  for (;;) {
    const cur = flat[j]!;
    const next = flat[j + 1];
    if (!next) break;
    if (cur.line.awaitsReply) {
      if (cur.line.mustWait || !script.pipeline[j]) break;
      if (script.commands[cur.command]!.kind === 'starttls' || next.line.dynamic) break;
      if (bytes + size(j + 1) > pipelineBudget) break;
    }
    j++;
    bytes += size(j);
  }
  return j;
}

/** The lines of the burst of flattened lines `first`..`first + lengths.length - 1`, as `writeBoundaries` takes them. */
function burstLines(script: Script, flat: FlatLine[], first: number, lengths: number[], splits: number[][], whole: boolean): BurstLine[] {
  return lengths.map((length, k) => ({
    length,
    cuts: splits[first + k] ?? [],
    overlong: script.commands[flat[first + k]!.command]!.kind === 'overlong',
    whole,
  }));
}

/** One burst of a delivery plan: its flattened lines, their bytes and the write boundaries. */
export interface PlannedBurst {
  first: number;
  last: number;
  /** Bytes per line, line ends included. */
  lengths: number[];
  /** Where the burst is cut into writes (offsets inside it). */
  boundaries: number[];
}

/**
 * How `execute` groups and cuts a script's lines when the server answers every line: its bursts
 * and their write boundaries (a computed line counted by its placeholder, which has the computed
 * line's length except for the quotes of a ManageSieve string; lines pipelined behind STARTTLS
 * go with its last write).
 */
export function deliveryPlan(script: Script, pipelineBudget: number, splits: number[][] = script.splits): PlannedBurst[] {
  const flat = flatten(script.commands);
  const out: PlannedBurst[] = [];
  for (let i = 0; i < flat.length; ) {
    const j = burstEnd(script, flat, i, pipelineBudget);
    const lengths = flat.slice(i, j + 1).map((f) => f.line.text.length + f.line.eol.length);
    const last = script.commands[flat[j]!.command]!;
    const whole = last.kind === 'starttls' && (last.injected ?? []).length > 0;
    out.push({ first: i, last: j, lengths, boundaries: writeBoundaries(burstLines(script, flat, i, lengths, splits, whole)) });
    i = j + 1;
  }
  return out;
}

export async function execute(ctx: Context, script: Script, opts: ExecuteOptions = {}): Promise<Execution> {
  const deadline = Date.now() + ctx.timeoutMs;
  const replyDeadline = () => Math.min(deadline, Date.now() + ctx.replyTimeoutMs);
  const exec: Execution = { greeting: [], greetingComplete: false, exchanges: [], extra: [], serverClosed: false, notes: [], transcript: [], timedOut: false };
  const splits = opts.splits ?? script.splits;
  let wire: Wire;
  try {
    wire = await Wire.open(ctx.target, ctx.tls === 'implicit', deadline);
  } catch (error) {
    exec.transcript = [`*: connect failed: ${(error as Error).message}`];
    exec.notes.push({ seq: -1, kind: 'closed', text: `connect failed: ${(error as Error).message}` });
    exec.serverClosed = true;
    return exec;
  }
  const note = (kind: Execution['notes'][number]['kind'], text: string) => {
    exec.notes.push({ seq: wire.nextSeq(), kind, text });
  };
  const extra = (where: string) => {
    for (const l of wire.drain()) exec.extra.push({ ...l, where });
  };

  try {
    const greeting = await readReply(wire, ctx.protocol, null, replyDeadline());
    exec.greeting = greeting.lines;
    exec.greetingComplete = greeting.complete;
    if (greeting.status === 'timeout') note('timeout', `no complete greeting within ${ctx.replyTimeoutMs} ms`);
    if (!greeting.complete) return exec;

    const flat = flatten(script.commands);
    let previous: ReceivedLine[] = greeting.lines;
    let i = 0;
    script: while (i < flat.length) {
      if (wire.eof) break;
      if (Date.now() >= deadline) {
        exec.timedOut = true;
        note('timeout', `run exceeded ${ctx.timeoutMs} ms`);
        break;
      }
      // 1. The burst: lines i..j.
      const j = burstEnd(script, flat, i, ctx.pipelineBudget);
      const burst = flat.slice(i, j + 1);
      const texts = burst.map((b, k) => (k === 0 ? resolveLine(b.line, previous, ctx.protocol) : b.line.text));
      const lastCommand = script.commands[burst[burst.length - 1]!.command]!;
      // STARTTLS ends its burst (the client must see the reply before the handshake).
      const starttls = lastCommand.kind === 'starttls' ? lastCommand : undefined;
      const injected = starttls?.injected ?? [];

      // 2. Write it in chunks.
      const payloads = texts.map((t, k) => t + burst[k]!.line.eol);
      const lines = burstLines(
        script,
        flat,
        i,
        payloads.map((p) => p.length),
        splits,
        injected.length > 0,
      );
      const cuts = writeBoundaries(lines);
      let all = payloads.join('');
      const injectedText = injected.map((l) => l.text + l.eol).join('');
      all += injectedText;
      const ends: number[] = [];
      payloads.reduce((acc, p) => (ends.push(acc + p.length), acc + p.length), 0);
      /** A line's bytes per write. */
      const piecesOf = (k: number): number[] => {
        const start = ends[k]! - payloads[k]!.length;
        const at = [start, ...cuts.filter((x) => x > start && x < ends[k]!), ends[k]!];
        return at.slice(1).map((x, n) => x - at[n]!);
      };
      /** How a line went out, when the burst was cut: its chunks (an over-long line's sizes, and the rule). */
      const chunkNote = (k: number): string => {
        if (cuts.length === 0) return '';
        const pieces = piecesOf(k);
        if (!lines[k]!.overlong) return `    [${pieces.length} chunk(s)]`;
        return `    [${pieces.length} chunk(s)${pieces.length > 1 ? `: ${pieces.join(' + ')} bytes` : ''}; over-long: cut only within the first ${OVERLONG_CUT_WINDOW} bytes]`;
      };
      const sentSeq: number[] = burst.map(() => -1);
      // Where each line's verb and the space after it end (a line without a space: its end).
      const verbEnds = texts.map((t, k) => ends[k]! - payloads[k]!.length + (t.includes(' ') ? t.indexOf(' ') + 1 : payloads[k]!.length));
      const verbSeq: number[] = burst.map(() => -1);
      /** Lines of which some bytes went out (an overlong line may be answered before its end). */
      const started = new Map<number, number>();
      const bounds = [0, ...cuts, all.length];
      for (let c = 0; c + 1 < bounds.length; c++) {
        const from = bounds[c]!;
        const to = bounds[c + 1]!;
        if (!wire.writable) break;
        const completing = ends.map((e, k) => (e > from && e <= to ? k : -1)).filter((k) => k >= 0);
        const touching = ends.map((e, k) => (e > from && e - payloads[k]!.length < to ? k : -1)).filter((k) => k >= 0);
        for (const k of completing) wire.clientLine(display(burst[k]!.line, texts[k]!) + chunkNote(k));
        if (c + 1 === bounds.length - 1) for (const l of injected) wire.clientLine(`${display(l, l.text)}    (pipelined behind STARTTLS)`);
        const seq = await wire.write(Buffer.from(all.slice(from, to), 'latin1'));
        if (seq < 0) break;
        for (const k of touching) if (!started.has(k)) started.set(k, seq);
        for (const k of completing) sentSeq[k] = seq;
        verbEnds.forEach((e, k) => {
          if (e > from && e <= to) verbSeq[k] = seq;
        });
        if (c + 2 < bounds.length) await wire.gap(ctx.chunkGapMs);
      }
      for (const k of started.keys()) if (sentSeq[k]! < 0) wire.clientLine(`${display(burst[k]!.line, texts[k]!)}    (partly sent: the connection closed)`);

      // 3. One reply per line that expects one.
      let stop = false;
      for (let k = 0; k < burst.length; k++) {
        const b = burst[k]!;
        if (!b.line.awaitsReply || !started.has(k)) continue;
        const ex = { command: b.command, line: b.line, sent: texts[k]!, sentSeq: sentSeq[k]!, startSeq: started.get(k)!, verbSeq: verbSeq[k]!, reply: [] as ReceivedLine[], complete: false };
        exec.exchanges.push(ex);
        if (stop) continue;
        const r = await readReply(wire, ctx.protocol, texts[k]!, replyDeadline());
        ex.reply = r.lines;
        ex.complete = r.complete;
        previous = r.lines;
        if (r.status === 'timeout') {
          note('timeout', `no complete reply to ${JSON.stringify(display(b.line, texts[k]!))} within ${ctx.replyTimeoutMs} ms`);
          if (Date.now() >= deadline) exec.timedOut = true;
          stop = true;
        } else if (r.status === 'eof') stop = true;
      }
      if (stop) break script;

      // 4. STARTTLS accepted: upgrade.
      if (starttls && isPositive(ctx.protocol, previous)) {
        extra('after the STARTTLS reply, before the TLS handshake');
        try {
          await wire.upgrade(ctx.target, Math.min(deadline, Date.now() + ctx.replyTimeoutMs));
          note('tls', 'TLS established');
        } catch (error) {
          note('tls-failed', `TLS handshake failed: ${(error as Error).message}`);
          break;
        }
        // ManageSieve speaks first after the handshake (RFC 5804 §2.2): that response completes STARTTLS's.
        if (speaksAfterStarttls(ctx.protocol)) {
          const exchange = exec.exchanges[exec.exchanges.length - 1]!;
          const r = await readReply(wire, ctx.protocol, null, replyDeadline());
          exchange.reply = [...exchange.reply, ...r.lines];
          exchange.complete = r.complete;
          if (!r.complete) {
            note(r.status === 'eof' ? 'closed' : 'timeout', 'no complete response after the STARTTLS handshake');
            break;
          }
        }
        if (injected.length > 0) {
          await wire.settle(ctx.quietMs * 3);
          extra('after the TLS handshake, before the client sent anything');
        }
      }
      i = j + 1;
    }

    // 5. The end of the script.
    if (!wire.eof) {
      if (script.end.kind === 'disconnect') {
        const { partial, abort } = script.end;
        if (partial !== '') {
          wire.clientLine(`${partial}    (incomplete line)`);
          await wire.write(Buffer.from(partial, 'latin1'));
        }
        await wire.settle(ctx.quietMs);
        extra('before the client disconnected');
        exec.serverClosed = wire.eof;
        wire.note(abort ? 'client resets the connection' : 'client closes the connection');
        note('client-close', abort ? 'reset' : 'close');
        if (abort) wire.destroy();
        else wire.end();
        return exec;
      }
      if (script.awaitClose) {
        const closed = await wire.waitEof(Math.min(deadline, Date.now() + ctx.closeTimeoutMs));
        if (!closed) wire.note(`still open ${ctx.closeTimeoutMs} ms after the last reply`);
      } else {
        await wire.settle(ctx.quietMs);
      }
    }
    extra(wire.eof ? 'after the last reply, before the server closed' : 'after the last reply');
    exec.serverClosed = wire.eof;
    return exec;
  } finally {
    exec.transcript = wire.transcript;
    wire.destroy();
  }
}
