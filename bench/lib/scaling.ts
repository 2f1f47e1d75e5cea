/**
 * What `worker_processes 2` can buy, from CPU per operation measured by bench/workers.ts
 * (µs of the proxy's process tree, of the load generator and of the backend: Dovecot + auth).
 */
export interface OpCost {
  /** The proxy's CPU per operation, master and workers summed (µs). */
  proxyUsPerOp: number;
  genUsPerOp: number;
  backendUsPerOp: number;
  /** The busiest worker's share of the workers' CPU (0.5: even between two; 1 for one worker). */
  busiestShare: number;
}

/**
 * If each worker had a core of its own (and the generator and backend cores of theirs): the
 * 2-worker rate over the 1-worker rate. The busiest worker fills its core first and bounds the rate.
 */
export const projectedScaling = (one: Pick<OpCost, 'proxyUsPerOp'>, two: Pick<OpCost, 'proxyUsPerOp' | 'busiestShare'>): number =>
  one.proxyUsPerOp / (two.proxyUsPerOp * Math.max(0.5, two.busiestShare));

/**
 * The most a 2-worker target can gain on `cores` cores that also run the generator and the
 * backend: the rate is bounded by the proxy (its busiest worker on one core) and by the machine
 * (`cores` / all the CPU an operation costs); the ceiling is the ratio of those bounds.
 */
export function scalingCeiling(one: Omit<OpCost, 'busiestShare'>, two: OpCost, cores: number): number {
  const machineBound = (s: Omit<OpCost, 'busiestShare'>) => cores / (s.proxyUsPerOp + s.genUsPerOp + s.backendUsPerOp);
  const withOne = Math.min(1 / one.proxyUsPerOp, machineBound(one));
  const withTwo = Math.min(1 / (two.proxyUsPerOp * Math.max(0.5, two.busiestShare)), machineBound(two));
  return withTwo / withOne;
}
