/**
 * The deadlines of every connection in the process (the `timeout` of an idle client, an
 * `Auth-Wait`, the SMTP greeting delay), kept as Node keeps its own timers: one list per delay, in
 * the order they were armed, which is the order they expire in, and one Node timer per list for
 * its first entry. A connection's deadline is then one small object of its own rather than a
 * Node `Timeout` (120 B) with a closure and its context (~110 B): ~240 B less per idle
 * connection (docs/performance.md, change 21).
 *
 * The clock is `performance.now()` (monotonic, as Node's timers). A list's timer may fire a little
 * before its first entry is due on that clock (Node's loop time lags it by the current turn): the
 * entry then waits for the rest. So a test that fakes the timers must fake `performance` with them
 * (vitest's `useFakeTimers()` does by default).
 */
export abstract class Deadline {
  /** When it expires, in `performance.now()` milliseconds; set by `arm`. */
  due = 0;
  prev: Deadline | null = null;
  next: Deadline | null = null;
  /** The list it is armed in; null when not armed (expired or disarmed). */
  list: DeadlineList | null = null;

  /** Runs once when the deadline passes, unless disarmed first. */
  abstract expired(): void;
}

class DeadlineList {
  head: Deadline | null = null;
  tail: Deadline | null = null;
  /** Armed for the head's deadline; null while the list is empty or firing. */
  timer: NodeJS.Timeout | null = null;

  constructor(readonly delay: number) {}
}

/** By delay in ms. Delays are few (configured timeouts, the auth service's `Auth-Wait`s); an empty list is dropped. */
const lists = new Map<number, DeadlineList>();

/** `deadline` expires `delay` ms from now. It must not be armed already. */
export function arm(deadline: Deadline, delay: number): void {
  let list = lists.get(delay);
  if (list === undefined) {
    list = new DeadlineList(delay);
    lists.set(delay, list);
  }
  deadline.due = performance.now() + delay;
  deadline.list = list;
  deadline.prev = list.tail;
  deadline.next = null;
  if (list.tail === null) list.head = deadline;
  else list.tail.next = deadline;
  list.tail = deadline;
  if (list.timer === null) list.timer = setTimeout(fire, delay, list);
}

/** `deadline` will not expire; nothing when it is not armed. */
export function disarm(deadline: Deadline): void {
  const { list } = deadline;
  if (list === null) return;
  unlink(list, deadline);
  if (list.head === null) {
    if (list.timer !== null) clearTimeout(list.timer);
    list.timer = null;
    drop(list);
  }
}

function unlink(list: DeadlineList, deadline: Deadline): void {
  if (deadline.prev === null) list.head = deadline.next;
  else deadline.prev.next = deadline.next;
  if (deadline.next === null) list.tail = deadline.prev;
  else deadline.next.prev = deadline.prev;
  deadline.prev = deadline.next = deadline.list = null;
}

function drop(list: DeadlineList): void {
  if (lists.get(list.delay) === list) lists.delete(list.delay);
}

/**
 * The list's timer: every entry now due expires, in order; the timer is armed again for the next.
 * An entry that throws (each connection contains its own faults, so this is a bug) does not keep
 * the others from expiring: the first error is thrown once the list is in order again.
 */
function fire(list: DeadlineList): void {
  list.timer = null;
  const now = performance.now();
  let failure: { error: unknown } | undefined;
  for (let deadline = list.head; deadline !== null && deadline.due <= now; deadline = list.head) {
    unlink(list, deadline);
    try {
      deadline.expired();
    } catch (error) {
      failure ??= { error };
    }
  }
  // An entry armed meanwhile (by an expiring one) armed the timer for its own deadline: the
  // first entry's comes sooner.
  if (list.timer !== null) clearTimeout(list.timer);
  list.timer = null;
  if (list.head === null) drop(list);
  else list.timer = setTimeout(fire, Math.max(1, Math.ceil(list.head.due - now)), list);
  if (failure !== undefined) throw failure.error;
}
