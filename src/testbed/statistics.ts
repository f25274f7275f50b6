/** Small descriptive statistics for experiment results. */

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

/** Population standard deviation (as the original prototype reported class spreads). */
export function standardDeviation(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const average = mean(values);
  let squares = 0;
  for (const value of values) squares += (value - average) ** 2;
  return Math.sqrt(squares / values.length);
}

/** Nearest-rank percentile, `fraction` in [0, 1]. */
export function percentile(values: readonly number[], fraction: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] as number;
}

export interface Distribution {
  min: number;
  p50: number;
  mean: number;
  p90: number;
  max: number;
}

export function distribution(values: readonly number[]): Distribution {
  return {
    min: values.length ? Math.min(...values) : NaN,
    p50: percentile(values, 0.5),
    mean: mean(values),
    p90: percentile(values, 0.9),
    max: values.length ? Math.max(...values) : NaN,
  };
}

/** Mean and spread of one figure over repeated runs. */
export interface Spread {
  mean: number;
  sd: number;
  min: number;
  max: number;
  runs: number[];
}

export function spread(values: readonly number[]): Spread {
  return {
    mean: mean(values),
    sd: standardDeviation(values),
    min: values.length ? Math.min(...values) : NaN,
    max: values.length ? Math.max(...values) : NaN,
    runs: [...values],
  };
}

/** A figure rounded to three decimals, as the reports print them. */
export function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
