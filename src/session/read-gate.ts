import type { Socket } from 'node:net';

/** Why a connection's input is not read now; reading resumes once no reason is left. */
export const Hold = {
  /** The machine is not reading (authenticating, upgrading, waiting out Auth-Wait). */
  Busy: 1,
  /** The client does not read its replies: what was written waits in the socket's buffer. */
  RepliesQueued: 2,
  /** The connection used its turn of the event loop with commands left to frame. */
  Yielding: 4,
} as const;
export type Hold = (typeof Hold)[keyof typeof Hold];

/**
 * Pauses and resumes one transport for the reasons above, as nginx stops reading a client while
 * a reply to it is unsent or while it authenticates. A paused socket stops reading from the
 * kernel once its readable buffer is full, so a client that pipelines and never reads costs its
 * socket buffers plus one chunk: TCP's window tells it to stop.
 */
export class ReadGate {
  #holds = 0;

  constructor(private readonly transport: Socket) {}

  get holding(): boolean {
    return this.#holds !== 0;
  }

  has(hold: Hold): boolean {
    return (this.#holds & hold) !== 0;
  }

  set(hold: Hold, on: boolean): void {
    const before = this.#holds;
    this.#holds = on ? before | hold : before & ~hold;
    if (before === 0 && this.#holds !== 0) this.transport.pause();
    else if (before !== 0 && this.#holds === 0) this.transport.resume();
  }
}
