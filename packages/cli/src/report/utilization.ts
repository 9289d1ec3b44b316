/**
 * Utilization, the imbalance measure comparable across methods: for every run with a linear
 * probe and modality m,
 *
 *   utilization_m = probe accuracy of the run's m encoder / probe accuracy of the m encoder of the
 *                   same seed's `unimodal` run (the same architecture trained on m alone, same budget)
 *
 * 1 means the method's m encoder is as linearly informative as one trained on m alone; a method
 * that lets one modality dominate shows the other modality well below 1.
 */
import type { RunRecord } from './types';

/** The method whose encoders are the reference ("alone"). */
export const UTILIZATION_REFERENCE = 'unimodal';

/** `runs` with `utilization` set wherever the run and its same-seed reference have a probe. */
export function withUtilization(runs: readonly RunRecord[]): RunRecord[] {
  const reference = new Map<number, RunRecord>();
  for (const r of runs) {
    // A variant can never be labelled "unimodal" (a registered name), so this is the method.
    if (r.method === UTILIZATION_REFERENCE && r.probe) reference.set(r.seed, r);
  }
  return runs.map((r) => {
    const ref = reference.get(r.seed);
    if (!r.probe || !ref?.probe) return r;
    const utilization: Record<string, number> = {};
    for (const [m, acc] of Object.entries(r.probe.accuracy)) {
      const alone = ref.probe.accuracy[m];
      if (alone !== undefined && alone > 0) utilization[m] = acc / alone;
    }
    return { ...r, utilization };
  });
}
