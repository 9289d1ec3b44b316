import { createRng } from '@igm/core';
import { mixSeed } from './hash';

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
