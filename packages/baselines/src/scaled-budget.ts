/**
 * A single-run budget whose other epoch-valued options follow the run (AGM's window, DOMFN's and
 * SMV's warm-ups): `scale(o, N)` sets `epochs` = N as {@link singleRunBudgetFrom} does, then lets
 * `adjust` rewrite the options with the scale factor f = N / (the epochs before scaling), reading
 * the options as the method's schema resolves them.
 */
import { type MethodBudget, type OptionsReader, singleRunBudgetFrom } from './budget';

export function singleRunBudgetWith<T extends { readonly epochs: number }>(
  where: string,
  read: OptionsReader<T>,
  adjust: (resolved: T, scaled: Record<string, unknown>, f: number) => void,
): MethodBudget {
  const base = singleRunBudgetFrom(where, (o) => read(o).epochs);
  return {
    ...base,
    scale(o, epochs, modalities) {
      const out = base.scale(o, epochs, modalities);
      const resolved = read(o);
      adjust(resolved, out, (out['epochs'] as number) / resolved.epochs);
      return out;
    },
  };
}
