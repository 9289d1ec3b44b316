/**
 * Modality contribution (Shapley value) and imbalance degree, as DATASETS.md section 11 defines.
 *
 * The caller evaluates the trained model once per coalition S of modalities (2^n test passes):
 * v(S) is the top-1 accuracy of the fused output when only the modalities in S get their real
 * input (the others are zeroed before their encoder, in normalised space; v(∅) is *measured*
 * with every input zeroed, not 0), or, under the "drop modality" rule for mean-of-heads fusion,
 * the accuracy of the mean softmax of the heads in S with v(∅) := 1/C. The functions here are
 * pure arithmetic on those accuracies; name the masking rule next to the numbers you report.
 *
 * Coalitions are keyed by {@link coalitionKey}: the modality names sorted and joined with '+'
 * (`'audio+visual'`), the empty coalition being `''`.
 */
import { checkNumber, IgmArgumentError } from '@igm/core';

const SEPARATOR = '+';

function checkModalities(where: string, modalities: readonly string[]): string[] {
  if (!Array.isArray(modalities) || modalities.length === 0) {
    throw new IgmArgumentError(
      `${where}: received modalities=${JSON.stringify(modalities)}. Expected a non-empty array of modality names.`,
    );
  }
  if (modalities.length > 16) {
    throw new IgmArgumentError(
      `${where}: received ${modalities.length} modalities. Expected at most 16 (the Shapley value needs 2^n evaluations).`,
    );
  }
  const seen = new Set<string>();
  for (const m of modalities) {
    if (typeof m !== 'string' || m.length === 0 || m.includes(SEPARATOR)) {
      throw new IgmArgumentError(
        `${where}: received modality name ${JSON.stringify(m)}. Expected a non-empty string without '${SEPARATOR}'.`,
      );
    }
    if (seen.has(m)) {
      throw new IgmArgumentError(
        `${where}: modality ${JSON.stringify(m)} is listed twice in ${JSON.stringify(modalities)}. Expected unique names.`,
      );
    }
    seen.add(m);
  }
  return [...modalities].sort();
}

/** The record key of a coalition: names sorted (code-unit order) and joined with '+'; `''` for ∅. */
export function coalitionKey(coalition: readonly string[]): string {
  return [...coalition].sort().join(SEPARATOR);
}

/**
 * Every coalition of `modalities` (2^n subsets, each sorted), in order of size then name: the
 * evaluations to run before calling {@link shapleyContributions}.
 */
export function allCoalitions(modalities: readonly string[]): string[][] {
  const names = checkModalities('allCoalitions', modalities);
  const n = names.length;
  const subsets: string[][] = [];
  for (let mask = 0; mask < 1 << n; mask++) {
    subsets.push(names.filter((_, i) => (mask >> i) & 1));
  }
  return subsets.sort(
    (a, b) => a.length - b.length || coalitionKey(a).localeCompare(coalitionKey(b)),
  );
}

/** Coalition values indexed by bit mask over the sorted names, validated. */
function readValues(
  where: string,
  names: readonly string[],
  values: Readonly<Record<string, number>>,
): Float64Array {
  const n = names.length;
  const v = new Float64Array(1 << n);
  const missing: string[] = [];
  const expected = new Set<string>();
  for (let mask = 0; mask < 1 << n; mask++) {
    const key = names.filter((_, i) => (mask >> i) & 1).join(SEPARATOR);
    expected.add(key);
    if (!Object.hasOwn(values, key)) {
      missing.push(JSON.stringify(key));
      continue;
    }
    v[mask] = checkNumber(where, `values[${JSON.stringify(key)}]`, values[key], { min: 0, max: 1 });
  }
  if (missing.length > 0) {
    throw new IgmArgumentError(
      `${where}: missing the accuracy of coalition(s) ${missing.join(', ')}. Expected one entry per subset of ${JSON.stringify(names)} keyed by coalitionKey (sorted names joined by '${SEPARATOR}', '' for all inputs zeroed).`,
    );
  }
  const extra = Object.keys(values).filter((k) => !expected.has(k));
  if (extra.length > 0) {
    throw new IgmArgumentError(
      `${where}: unexpected coalition key(s) ${extra.map((k) => JSON.stringify(k)).join(', ')}. Valid keys: ${[...expected].map((k) => JSON.stringify(k)).join(', ')}.`,
    );
  }
  return v;
}

/** |S|! (n - |S| - 1)! / n! for |S| = 0 .. n-1. */
function shapleyWeights(n: number): Float64Array {
  const fact = [1];
  for (let i = 1; i <= n; i++) fact.push(fact[i - 1]! * i);
  const w = new Float64Array(n);
  for (let s = 0; s < n; s++) w[s] = (fact[s]! * fact[n - s - 1]!) / fact[n]!;
  return w;
}

function popcount(x: number): number {
  let c = 0;
  while (x) {
    x &= x - 1;
    c++;
  }
  return c;
}

/**
 * Shapley value of each modality (BalanceBenchmark's `Calculate_Shapley`, DATASETS.md 11):
 *
 *   φ_m = Σ_{S ⊆ M∖{m}} |S|! (n − |S| − 1)! / n! · [ v(S ∪ {m}) − v(S) ]
 *
 * For two modalities φ_a = ½[v({a}) − v(∅)] + ½[v({a,v}) − v({v})]. The values add up to
 * v(M) − v(∅) (efficiency).
 *
 * @param modalities The modality names (any order).
 * @param values v(S) for every coalition, keyed by {@link coalitionKey}, as fractions in [0, 1].
 * @returns φ_m per modality name (fractions of accuracy, may be negative).
 */
export function shapleyContributions(
  modalities: readonly string[],
  values: Readonly<Record<string, number>>,
): Record<string, number> {
  const names = checkModalities('shapleyContributions', modalities);
  const v = readValues('shapleyContributions', names, values);
  const n = names.length;
  const w = shapleyWeights(n);
  const out: Record<string, number> = {};
  names.forEach((name, i) => {
    const bit = 1 << i;
    let phi = 0;
    for (let mask = 0; mask < 1 << n; mask++) {
      if (mask & bit) continue;
      phi += w[popcount(mask)]! * (v[mask | bit]! - v[mask]!);
    }
    out[name] = phi;
  });
  return out;
}

/**
 * Sample-level Shapley values (BalanceBenchmark's `Calculate_Shapley_Sample`, used by
 * Modality-valuation): v_i(S) = 1 if sample i is classified correctly with only S, else 0, and
 * v_i(∅) = 0 by definition (any entry for `''` is ignored).
 *
 * @param correct For every non-empty coalition key, per-sample correctness (boolean or 0/1).
 * @returns Per modality, a Float64Array of φ_{m,i} over samples.
 */
export function sampleShapleyContributions(
  modalities: readonly string[],
  correct: Readonly<Record<string, ArrayLike<boolean | number>>>,
): Record<string, Float64Array> {
  const where = 'sampleShapleyContributions';
  const names = checkModalities(where, modalities);
  const n = names.length;
  const masks = 1 << n;
  let samples = -1;
  const rows: ArrayLike<boolean | number>[] = [];
  for (let mask = 1; mask < masks; mask++) {
    const key = names.filter((_, i) => (mask >> i) & 1).join(SEPARATOR);
    const row = correct[key];
    if (row === undefined || typeof row.length !== 'number') {
      throw new IgmArgumentError(
        `${where}: missing per-sample correctness for coalition ${JSON.stringify(key)}. Expected an array for every non-empty subset of ${JSON.stringify(names)}.`,
      );
    }
    if (samples < 0) samples = row.length;
    if (row.length !== samples) {
      throw new IgmArgumentError(
        `${where}: coalition ${JSON.stringify(key)} has ${row.length} samples, others ${samples}. Expected the same test set for every coalition.`,
      );
    }
    rows[mask] = row;
  }
  const w = shapleyWeights(n);
  const out: Record<string, Float64Array> = {};
  const value = (mask: number, s: number): number => {
    if (mask === 0) return 0;
    const x = rows[mask]![s];
    if (x !== true && x !== false && x !== 0 && x !== 1) {
      throw new IgmArgumentError(
        `${where}: correctness of sample ${s} for coalition mask ${mask} is ${String(x)}. Expected true/false or 0/1.`,
      );
    }
    return x === true || x === 1 ? 1 : 0;
  };
  names.forEach((name, i) => {
    const bit = 1 << i;
    const phi = new Float64Array(samples);
    for (let s = 0; s < samples; s++) {
      let acc = 0;
      for (let mask = 0; mask < masks; mask++) {
        if (mask & bit) continue;
        acc += w[popcount(mask)]! * (value(mask | bit, s) - value(mask, s));
      }
      phi[s] = acc;
    }
    out[name] = phi;
  });
  return out;
}

/**
 * Imbalance degree [project definition, DATASETS.md 11 — not BalanceBenchmark's, whose formula
 * is not established]:
 *
 *   ID = (max_m φ_m − min_m φ_m) / Σ_m |φ_m|,   ID := 0 when Σ_m |φ_m| = 0
 *
 * (two modalities: |φ_a − φ_v| / (|φ_a| + |φ_v|)). ID ∈ [0, 1]: 0 when every modality
 * contributes equally, 1 for two modalities when one contributes nothing (or they pull in
 * opposite directions).
 *
 * @param contributions φ per modality, e.g. the output of {@link shapleyContributions}.
 */
export function imbalanceDegree(
  contributions: Readonly<Record<string, number>> | readonly number[],
): number {
  const phi = Array.isArray(contributions) ? contributions : Object.values(contributions);
  if (phi.length === 0) {
    throw new IgmArgumentError(
      'imbalanceDegree: received no contributions. Expected at least one φ_m.',
    );
  }
  let max = -Infinity;
  let min = Infinity;
  let total = 0;
  phi.forEach((x: number, i: number) => {
    checkNumber('imbalanceDegree', `contributions[${i}]`, x);
    if (x > max) max = x;
    if (x < min) min = x;
    total += Math.abs(x);
  });
  return total === 0 ? 0 : (max - min) / total;
}

/**
 * Unimodal accuracy gap max_m acc_m − min_m acc_m (DATASETS.md 11 item 3; what users commonly call
 * "imbalance"). Name the unimodal protocol (weight slice, zero-masking, linear probe, or the
 * method's own per-modality heads) next to the number.
 */
export function unimodalAccuracyGap(accuracies: Readonly<Record<string, number>>): number {
  const entries = Object.entries(accuracies);
  if (entries.length === 0) {
    throw new IgmArgumentError(
      'unimodalAccuracyGap: received no accuracies. Expected { modality: accuracy }.',
    );
  }
  const xs = entries.map(([k, x]) =>
    checkNumber('unimodalAccuracyGap', `accuracies[${JSON.stringify(k)}]`, x, { min: 0, max: 1 }),
  );
  return Math.max(...xs) - Math.min(...xs);
}
