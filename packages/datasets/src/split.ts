import { createRng, mixSeed } from '@igm/core';
import { IgmDataError } from './errors';

/**
 * A fixed, class-stratified, seeded hold-out (DATASETS.md section 9): for each class, round(
 * fraction * n_c) of its samples, drawn by a permutation seeded with (seed, class). Returns a
 * boolean mask over the input order.
 */
export function stratifiedHoldout(
  labels: ArrayLike<number>,
  fraction: number,
  seed: number,
): boolean[] {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    let list = byClass.get(y);
    if (!list) {
      list = [];
      byClass.set(y, list);
    }
    list.push(i);
  }
  const mask = new Array<boolean>(labels.length).fill(false);
  for (const [y, list] of [...byClass.entries()].sort((a, b) => a[0] - b[0])) {
    const take = Math.round(fraction * list.length);
    const perm = createRng(mixSeed(seed, `holdout/${y}`)).permutation(list.length);
    for (let k = 0; k < take; k++) mask[list[perm[k]!]!] = true;
  }
  return mask;
}

/**
 * Throws, with the numbers, when a hold-out of `fraction` > 0 left the validation split empty
 * (every class has round(fraction * n_c) = 0; training would later fail selecting on a split
 * that does not exist) or took every sample of a class out of training. `source` names the
 * split file the counts come from; `classNames[c]` labels class c.
 */
export function checkHoldout(
  where: string,
  source: string,
  labels: ArrayLike<number>,
  held: readonly boolean[],
  fraction: number,
  classNames: readonly string[],
): void {
  if (fraction <= 0) return;
  const total = new Map<number, number>();
  const taken = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    total.set(y, (total.get(y) ?? 0) + 1);
    if (held[i]) taken.set(y, (taken.get(y) ?? 0) + 1);
  }
  const classes = [...total.keys()].sort((a, b) => a - b);
  const name = (y: number) => classNames[y] ?? `class ${y}`;
  const counts = classes.map((y) => `${name(y)}: ${total.get(y)}`).join(', ');
  const heldCount = [...taken.values()].reduce((a, b) => a + b, 0);
  if (heldCount === 0) {
    const largest = Math.max(0, ...total.values());
    // round(f * n) >= 1 needs f >= 0.5 / n (Math.round rounds halves up).
    const minimum = largest > 0 ? Math.ceil((0.5 / largest) * 1000) / 1000 : undefined;
    throw new IgmDataError(
      `${where}: validationFraction=${fraction} holds out no sample: each class gives round(${fraction} x n_c) = 0 with n_c = ${counts} (${labels.length} in all), so there would be no validation split and selecting the checkpoint on it would fail later. ${
        minimum !== undefined && minimum <= 0.9
          ? `Use validationFraction >= ${minimum} (one sample of the largest class), `
          : 'Add training samples, '
      }or validationFraction: 0 for no validation split.`,
      source,
    );
  }
  const emptied = classes.filter((y) => (taken.get(y) ?? 0) === total.get(y));
  if (emptied.length > 0) {
    throw new IgmDataError(
      `${where}: validationFraction=${fraction} moves every training sample of ${emptied
        .map((y) => `${name(y)} (${total.get(y)})`)
        .join(
          ', ',
        )} to validation, so training would never see ${emptied.length === 1 ? 'that class' : 'those classes'}. Per-class counts: ${counts}. Use a smaller validationFraction or add training samples.`,
      source,
    );
  }
}
