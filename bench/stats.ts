// How every benchmark here turns samples into figures, and the rule each table states under it:
// a percentile is shown only from enough samples to mean something, and n is always printed.

/** The fewest samples a p95 is shown from (below it the table says "n<20"). */
export const MIN_P95_SAMPLES = 20;

/** Nearest-rank quantile: the smallest sample with at least q of the samples at or below it. */
export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.max(0, Math.min(s.length - 1, Math.ceil(q * s.length) - 1))];
}

/** The p95 of the samples, or null when there are fewer than MIN_P95_SAMPLES of them. */
export function p95OrNull(xs: number[]): number | null {
  return xs.length >= MIN_P95_SAMPLES ? quantile(xs, 0.95) : null;
}

/** What a table prints in a p95 cell that has too few samples. */
export const TOO_FEW_FOR_P95 = `n<${MIN_P95_SAMPLES}`;

/** The rule printed under every table with percentiles. */
export const PERCENTILE_RULE =
  `p50 and p95 are nearest-rank percentiles of the row's n samples (with an even n, p50 is the lower of the two middle ones); ` +
  `p95 is shown only from n ≥ ${MIN_P95_SAMPLES} samples ("${TOO_FEW_FOR_P95}" otherwise); max is the largest of the n.`;
