import { describe, expect, it } from 'vitest';
import { projectedScaling, scalingCeiling } from '../../../bench/lib/scaling.js';

describe('bench/lib/scaling: what a second worker can buy', () => {
  it('projects 2x for an even split at the same CPU per operation, less for an uneven one or a dearer operation', () => {
    expect(projectedScaling({ proxyUsPerOp: 1000 }, { proxyUsPerOp: 1000, busiestShare: 0.5 })).toBeCloseTo(2);
    expect(projectedScaling({ proxyUsPerOp: 1000 }, { proxyUsPerOp: 1000, busiestShare: 0.8 })).toBeCloseTo(1.25);
    expect(projectedScaling({ proxyUsPerOp: 1000 }, { proxyUsPerOp: 1250, busiestShare: 0.5 })).toBeCloseTo(1.6);
  });

  it('bounds the gain by the cores the generator and the backend share', () => {
    const cost = { proxyUsPerOp: 1000, genUsPerOp: 1000, backendUsPerOp: 1000, busiestShare: 0.5 };
    // 3 ms of CPU per operation on 2 cores: 667/s at most, whatever the proxy; one worker alone: 667/s too.
    expect(scalingCeiling(cost, cost, 2)).toBeCloseTo(1);
    // A proxy that is all the cost: one worker fills one of the two cores, two fill both.
    const alone = { ...cost, genUsPerOp: 0, backendUsPerOp: 0 };
    expect(scalingCeiling(alone, alone, 2)).toBeCloseTo(2);
    // The proxy 60% of the cost: one worker fills its core at 667/s, the machine allows 800/s.
    const heavy = { proxyUsPerOp: 1500, genUsPerOp: 500, backendUsPerOp: 500, busiestShare: 0.5 };
    expect(scalingCeiling(heavy, heavy, 2)).toBeCloseTo(1.2);
    // An uneven split bounds the two workers below the machine: 1 / (1500 µs × 0.8) = 833/s > 800/s, still 1.2x; at 0.9, 741/s.
    expect(scalingCeiling(heavy, { ...heavy, busiestShare: 0.9 }, 2)).toBeCloseTo(1 / 0.9 / 1500 / (1 / 1500));
  });
});
