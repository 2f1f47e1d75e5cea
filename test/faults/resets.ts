/**
 * The client that resets its connection at every byte offset of a scripted login dialogue:
 * greeting, STARTTLS/STLS and the TLS handshake where the transport has them, EHLO/USER, the
 * credentials, the login reply, one relayed command and its reply. Offsets count the bytes the
 * client puts on the wire, so over TLS they fall inside records (the ClientHello, the Finished,
 * each encrypted command) as well as between them.
 *
 * Two kinds of cut: `immediate`, a reset right after byte `k` was handed to the kernel (for every
 * `k` from 0 to the dialogue's length), and `idle`, a reset at a write boundary once the replies
 * to what was sent have arrived (the client goes quiet, then resets).
 */
import { beforeLogin, Conversation, Cut, loginLine, RELAYED, type CutMode, type Protocol, type Transport } from './harness.js';
import { PROTOCOLS, TRANSPORTS } from './harness.js';

export interface SweepTarget {
  protocol: Protocol;
  transport: Transport;
}

export const RESET_TARGETS: SweepTarget[] = PROTOCOLS.flatMap((protocol) => TRANSPORTS.map((transport) => ({ protocol, transport })));

/** The login name the sweep uses; the auth service must accept it. */
export const SWEEP_USER = 'alice';

export interface CutResult {
  k: number;
  mode: CutMode;
  /** What the client was doing when it reset: connect, greeting, preauth, handshake, login, relay, end. */
  phase: string;
}

/** The dialogue; throws `Cut` when the wire is reset under it. */
async function dialogue(c: Conversation, { protocol, transport }: SweepTarget): Promise<void> {
  await beforeLogin(c, protocol, transport, SWEEP_USER);
  await c.send(loginLine(protocol, SWEEP_USER), 'login');
  await c.read(/\r\n/);
  await c.send(RELAYED[protocol].command, 'relay');
  await c.read(/\r\n/);
  c.wire.phase = 'end';
}

/** One run of the dialogue over a wire reset after `limit` bytes; null when no cut happened. */
async function runOnce(port: number, target: SweepTarget, limit: number, mode: CutMode): Promise<{ phase: string | null; writes: number[]; written: number }> {
  let c: Conversation | undefined;
  try {
    c = await Conversation.connect(port, { limit, mode });
    if (target.transport === 'implicit') await c.handshake();
    await dialogue(c, target);
    // At the last boundary an idle cut comes after the dialogue: the client is quiet in the relay.
    if (mode === 'idle' && c.wire.written === limit) c.wire.reset();
  } catch (error) {
    if (!(error instanceof Cut)) throw new Error(`${target.protocol}/${target.transport}, ${mode} cut at byte ${limit}: ${(error as Error).message}`);
  } finally {
    c?.destroy();
  }
  return { phase: c?.wire.cutPhase ?? null, writes: c?.wire.writes ?? [], written: c?.wire.written ?? 0 };
}

export interface SweepResult {
  /** Bytes the client writes in the whole dialogue. */
  total: number;
  /** Write boundaries (prefix sums of the reference run's writes, 0 included). */
  boundaries: number[];
  cuts: number;
  /** Cuts by the phase they fell in. */
  phases: Record<string, number>;
}

/**
 * A reference run (no cut) measures the dialogue, then every immediate cut from 0 to its length
 * and every idle cut at its write boundaries; `after` checks each cut (the server's side).
 */
export async function sweep(port: number, target: SweepTarget, hooks: { before?: () => void; after: (cut: CutResult) => Promise<void> }): Promise<SweepResult> {
  const reference = await runOnce(port, target, Infinity, 'immediate');
  if (reference.phase !== null) throw new Error(`${target.protocol}/${target.transport}: the reference run was cut`);
  const total = reference.written;
  const boundaries = [0];
  for (const size of reference.writes) boundaries.push(boundaries.at(-1)! + size);
  await hooks.after({ k: total, mode: 'idle', phase: 'reference' });
  const plan: Array<[number, CutMode]> = [];
  for (let k = 0; k <= total; k++) plan.push([k, 'immediate']);
  for (const k of boundaries) plan.push([k, 'idle']);
  const phases: Record<string, number> = {};
  let cuts = 0;
  for (const [k, mode] of plan) {
    hooks.before?.();
    const run = await runOnce(port, target, k, mode);
    if (run.phase === null) throw new Error(`${target.protocol}/${target.transport}: the ${mode} cut at byte ${k} of ${total} never happened (writes ${JSON.stringify(run.writes)})`);
    cuts++;
    phases[run.phase] = (phases[run.phase] ?? 0) + 1;
    await hooks.after({ k, mode, phase: run.phase });
  }
  return { total, boundaries, cuts, phases };
}
