/** Mean and sample standard deviation (n - 1), as results tables report "mean +- std". */
export function meanStd(values: readonly number[]): { mean: number; std: number; n: number } {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, std: Number.NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, std: 0, n };
  const v = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, std: Math.sqrt(v), n };
}

/** "61.9 ± 1.2" from fractions, in percent with one decimal. */
export function formatPercent(values: readonly number[]): string {
  const { mean, std, n } = meanStd(values);
  if (n === 0 || Number.isNaN(mean)) return '–';
  return n === 1
    ? `${(100 * mean).toFixed(1)}`
    : `${(100 * mean).toFixed(1)} ± ${(100 * std).toFixed(1)}`;
}

export function formatNumber(values: readonly number[], digits = 2): string {
  const { mean, std, n } = meanStd(values);
  if (n === 0 || Number.isNaN(mean)) return '–';
  return n === 1 ? mean.toFixed(digits) : `${mean.toFixed(digits)} ± ${std.toFixed(digits)}`;
}
