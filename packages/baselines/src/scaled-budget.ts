/**
 * A single-run budget whose other epoch-valued options follow the run (AGM's window, DOMFN's and
 * SMV's warm-ups): `scale(o, N)` sets `epochs` = N as {@link singleRunBudget} does, then lets
 * `adjust` rewrite the options with the scale factor f = N / (the epochs before scaling).
 */
import { checkNumber } from '@igm/core';
import { type MethodBudget, singleRunBudget } from './budget';

export function singleRunBudgetWith(
  where: string,
  defaultEpochs: number,
  adjust: (original: Record<string, unknown>, scaled: Record<string, unknown>, f: number) => void,
): MethodBudget {
  const base = singleRunBudget(where, { defaultEpochs });
  return {
    ...base,
    scale(o, epochs, modalities) {
      const out = base.scale(o, epochs, modalities);
      const from = checkNumber(where, 'epochs', o['epochs'] ?? defaultEpochs, {
        min: 1,
        integer: true,
      });
      adjust(o, out, (out['epochs'] as number) / from);
      return out;
    },
  };
}
