import type { BackendTarget } from '../../machines/types.js';

/**
 * One step of a protocol's login dialogue with the backend: what the backend's reply must look
 * like, and what the proxy sends next. The engine that runs the steps over a socket (buffers,
 * TLS, timeouts, errors) is src/proxy/backend-login.ts; the steps are the protocol's knowledge.
 */
export interface LoginStep {
  /** 'ok' to go on, 'more' when the reply is not complete yet, 'bad' for an unexpected reply. */
  check(reply: string): 'ok' | 'more' | 'bad';
  /** What to send once the reply checked out (nothing after the last step). */
  send?: () => string;
  /** Last step only: the backend's reply is not for the client (SMTP AUTH, where the proxy says 235). */
  keepReply?: boolean;
  /** The reply to STARTTLS/STLS: once it checked out, TLS starts, then `send` goes over TLS. */
  upgrade?: boolean;
  /** Asked when the dialogue reaches this step: true when its command was never sent (an optional one). */
  skip?: () => boolean;
}

/** A step cannot build its line (nginx logs it and answers with the internal error). */
export class LoginStepError extends Error {}

/** How a protocol logs in to its backend. */
export interface BackendLoginScript {
  /** The plaintext dialogue, from the greeting to the reply the client sees first. */
  steps(target: BackendTarget): LoginStep[];
  /**
   * `postern_proxy_ssl starttls`: the protocol's STARTTLS after the greeting; once the backend
   * agrees, TLS, and the plaintext dialogue starts over from what follows the greeting.
   */
  starttls(target: BackendTarget, steps: LoginStep[]): LoginStep[];
  /** Bytes of a STARTTLS reply proper (whatever follows it in the same read is dropped). */
  replyLength(reply: string, target: BackendTarget): number;
}

export const startsWith = (prefix: string) => (reply: string) => (reply.startsWith(prefix) ? 'ok' : 'bad');

/** The greeting step followed by the protocol's STARTTLS steps, then the login from after the greeting. */
export function upgradeAfterGreeting(steps: LoginStep[], starttls: (greeting: LoginStep) => LoginStep[]): LoginStep[] {
  const [greeting, ...rest] = steps as [LoginStep, ...LoginStep[]];
  return [...starttls(greeting), ...rest];
}

/** The step that reads the STARTTLS reply, then sends what the greeting step would have sent. */
export const resumeAfterUpgrade = (greeting: LoginStep, check: LoginStep['check']): LoginStep => ({
  check,
  upgrade: true,
  ...(greeting.send ? { send: greeting.send } : {}),
});

/** The length of the first `\r\n`-ended line of `reply` that `isLast` accepts (or of all of it). */
export function lengthThroughLine(reply: string, isLast: (line: string) => boolean): number {
  let start = 0;
  for (;;) {
    const end = reply.indexOf('\r\n', start);
    if (end < 0) return reply.length;
    if (isLast(reply.slice(start, end))) return end + 2;
    start = end + 2;
  }
}
