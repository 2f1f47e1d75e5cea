/**
 * Plays one script against the target over one connection and records what came back:
 * the greeting, one exchange per line that expects a reply, surplus lines, closes, TLS.
 *
 * Lines are grouped into bursts (pipelining) where the script allows it and the client may
 * (never after a line whose reply it must see first: SASL steps, `{N}` literals, STARTTLS),
 * within the pipelining budget. Each burst is written in chunks cut at the script's split
 * points, with a short pause between chunks so the server reads them separately.
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

/** Absolute cut offsets inside a burst. */
function cutOffsets(lengths: number[], cuts: number[][], noCut: Set<number>): number[] {
  const out = new Set<number>();
  let offset = 0;
  lengths.forEach((len, k) => {
    for (const c of cuts[k] ?? []) {
      const pos = Math.floor((c * len) / 10000);
      if (pos > 0 && noCut.has(k)) continue;
      out.add(offset + pos);
    }
    offset += len;
  });
  const total = offset;
  return [...out].filter((p) => p > 0 && p < total).sort((a, b) => a - b);
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
    const size = (k: number) => flat[k]!.line.text.length + flat[k]!.line.eol.length;
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
      let j = i;
      let bytes = size(i);
      for (;;) {
        const cur = flat[j]!;
        const next = flat[j + 1];
        if (!next) break;
        if (cur.line.awaitsReply) {
          if (cur.line.mustWait || !script.pipeline[j]) break;
          if (script.commands[cur.command]!.kind === 'starttls' || next.line.dynamic) break;
          if (bytes + size(j + 1) > ctx.pipelineBudget) break;
        }
        j++;
        bytes += size(j);
      }
      const burst = flat.slice(i, j + 1);
      const texts = burst.map((b, k) => (k === 0 ? resolveLine(b.line, previous, ctx.protocol) : b.line.text));
      const lastCommand = script.commands[burst[burst.length - 1]!.command]!;
      // STARTTLS ends its burst (the client must see the reply before the handshake).
      const starttls = lastCommand.kind === 'starttls' ? lastCommand : undefined;
      const injected = starttls?.injected ?? [];

      // 2. Write it in chunks.
      const payloads = texts.map((t, k) => t + burst[k]!.line.eol);
      const noCut = new Set<number>(injected.length > 0 ? burst.map((_, k) => k) : []);
      const cuts = cutOffsets(
        payloads.map((p) => p.length),
        burst.map((_, k) => splits[i + k] ?? []),
        noCut,
      );
      let all = payloads.join('');
      const injectedText = injected.map((l) => l.text + l.eol).join('');
      all += injectedText;
      const ends: number[] = [];
      payloads.reduce((acc, p) => (ends.push(acc + p.length), acc + p.length), 0);
      const chunksOf = (k: number) => 1 + cuts.filter((x) => x > ends[k]! - payloads[k]!.length && x < ends[k]!).length;
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
        for (const k of completing) wire.clientLine(display(burst[k]!.line, texts[k]!) + (cuts.length > 0 ? `    [${chunksOf(k)} chunk(s)]` : ''));
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
