import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { arm, Deadline, disarm } from '../../../src/session/deadlines.js';

/** A deadline that notes when it expired, and runs `then` as it does. */
class Noted extends Deadline {
  constructor(
    readonly name: string,
    readonly log: Array<[string, number]>,
    readonly then: () => void = () => undefined,
  ) {
    super();
  }

  expired(): void {
    this.log.push([this.name, performance.now() - startedAt]);
    this.then();
  }
}

let startedAt = 0;

describe('deadlines: one Node timer per delay', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    startedAt = performance.now();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('each expires at its own time, same delays in the order armed, with one timer per delay', () => {
    const log: Array<[string, number]> = [];
    arm(new Noted('a', log), 300);
    vi.advanceTimersByTime(100);
    arm(new Noted('b', log), 300);
    arm(new Noted('c', log), 50);
    arm(new Noted('d', log), 300);
    expect(vi.getTimerCount()).toBe(2);
    vi.advanceTimersByTime(1000);
    expect(log).toEqual([
      ['c', 150],
      ['a', 300],
      ['b', 400],
      ['d', 400],
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a disarmed deadline never expires; the last one disarmed takes its timer with it', () => {
    const log: Array<[string, number]> = [];
    const a = new Noted('a', log);
    const b = new Noted('b', log);
    arm(a, 200);
    arm(b, 200);
    disarm(a);
    disarm(a);
    vi.advanceTimersByTime(250);
    expect(log).toEqual([['b', 200]]);
    const c = new Noted('c', log);
    arm(c, 200);
    disarm(c);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(log).toEqual([['b', 200]]);
  });

  it('one armed while another expires does not delay the next one due', () => {
    const log: Array<[string, number]> = [];
    arm(new Noted('a', log, () => arm(new Noted('c', log), 100)), 100);
    vi.advanceTimersByTime(50);
    arm(new Noted('b', log), 100);
    vi.advanceTimersByTime(500);
    expect(log).toEqual([
      ['a', 100],
      ['b', 150],
      ['c', 200],
    ]);
  });

  it('one that throws does not keep the others due from expiring, nor the later ones', () => {
    const log: Array<[string, number]> = [];
    arm(new Noted('a', log, () => { throw new Error('a broke'); }), 100);
    arm(new Noted('b', log), 100);
    vi.advanceTimersByTime(50);
    arm(new Noted('c', log), 100);
    expect(() => vi.advanceTimersByTime(60)).toThrow('a broke');
    vi.advanceTimersByTime(100);
    expect(log).toEqual([
      ['a', 100],
      ['b', 100],
      ['c', 150],
    ]);
  });
});
