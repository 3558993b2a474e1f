/**
 * The harness's statistics, as pure functions. Every function that summarises samples returns
 * `undefined` when there is nothing to summarise: a figure that was not measured must never come
 * out as 0, NaN or a plausible-looking number.
 */

export interface Summary {
  count: number;
  mean: number;
  min: number;
  max: number;
  p50: number;
  p90: number;
  p99: number;
  stddev: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface Regression {
  /** dy/dx. */
  slope: number;
  /** y at x = 0. */
  intercept: number;
  /** Coefficient of determination (1 when every point lies on the line, or y never varies). */
  r2: number;
  count: number;
}

export interface StallOptions {
  /** The engine's own spacing between chunks, ms. */
  pacingMs: number;
  /** How far beyond the pacing a gap may go before it is a stall, ms. */
  toleranceMs: number;
}

export interface StallReport {
  /** Gaps examined (arrivals − 1, or 0). */
  gaps: number;
  /** Gaps strictly longer than pacing + tolerance. */
  stalls: number;
  /** Undefined with fewer than two arrivals. */
  maxGapMs: number | undefined;
  /** Indices (into arrivals) of the chunk that ended each stall. */
  stallIndices: number[];
}

function assertFiniteSamples(values: ArrayLike<number>): void {
  for (let index = 0; index < values.length; index++) {
    const value = values[index];
    if (value === undefined || !Number.isFinite(value)) throw new RangeError(`sample ${index} is not a finite number`);
  }
}

/** A sorted copy (numeric order), as a Float64Array: sorting boxed numbers with a comparator is slow. */
export function sortAscending(values: ArrayLike<number>): Float64Array {
  assertFiniteSamples(values);
  const sorted = Float64Array.from(values);
  sorted.sort();
  return sorted;
}

/**
 * The p-th percentile (0 ≤ p ≤ 100) of already-sorted samples, linearly interpolated between
 * the closest ranks (numpy's default). Undefined for no samples.
 */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number | undefined {
  if (!Number.isFinite(p) || p < 0 || p > 100) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const count = sorted.length;
  if (count === 0) return undefined;
  const rank = (p / 100) * (count - 1);
  const lowerIndex = Math.floor(rank);
  const upperIndex = Math.min(count - 1, lowerIndex + 1);
  const lower = sorted[lowerIndex] as number;
  const upper = sorted[upperIndex] as number;
  return lower + (upper - lower) * (rank - lowerIndex);
}

/** The p-th percentile of unsorted samples. Undefined for no samples. */
export function percentile(values: ArrayLike<number>, p: number): number | undefined {
  return percentileOfSorted(sortAscending(values), p);
}

export function mean(values: ArrayLike<number>): number | undefined {
  if (values.length === 0) return undefined;
  assertFiniteSamples(values);
  let total = 0;
  for (let index = 0; index < values.length; index++) total += values[index] as number;
  return total / values.length;
}

/** Count, mean, extremes, p50/p90/p99 and the population standard deviation; undefined for no samples. */
export function summarize(values: ArrayLike<number>): Summary | undefined {
  if (values.length === 0) return undefined;
  const sorted = sortAscending(values);
  const average = mean(sorted) as number;
  let squares = 0;
  for (const value of sorted) squares += (value - average) ** 2;
  return {
    count: sorted.length,
    mean: average,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    p50: percentileOfSorted(sorted, 50) as number,
    p90: percentileOfSorted(sorted, 90) as number,
    p99: percentileOfSorted(sorted, 99) as number,
    stddev: Math.sqrt(squares / sorted.length),
  };
}

/**
 * Ordinary least squares y = slope·x + intercept. Undefined with fewer than two points or when
 * every x is the same (no slope can be measured then).
 */
export function linearRegression(points: readonly Point[]): Regression | undefined {
  const count = points.length;
  if (count < 2) return undefined;
  let sumX = 0;
  let sumY = 0;
  for (const { x, y } of points) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw new RangeError("regression points must be finite");
    sumX += x;
    sumY += y;
  }
  const meanX = sumX / count;
  const meanY = sumY / count;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const { x, y } of points) {
    sxx += (x - meanX) ** 2;
    sxy += (x - meanX) * (y - meanY);
    syy += (y - meanY) ** 2;
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  const intercept = meanY - slope * meanX;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept, r2, count };
}

/**
 * Relative growth of a fitted line over [x0, x1]: (ŷ(x1) − ŷ(x0)) / ŷ(x0). Undefined without a
 * regression or when the fitted start is not positive.
 */
export function fittedGrowth(regression: Regression | undefined, x0: number, x1: number): number | undefined {
  if (regression === undefined) return undefined;
  const start = regression.intercept + regression.slope * x0;
  const end = regression.intercept + regression.slope * x1;
  if (!(start > 0)) return undefined;
  return (end - start) / start;
}

/**
 * Stalls in one stream: a gap between consecutive chunk arrivals longer than the engine's pacing
 * plus the tolerance. `arrivals` are monotonic timestamps (ms) in arrival order.
 */
export function detectStalls(arrivals: ArrayLike<number>, options: StallOptions): StallReport {
  if (!(options.pacingMs >= 0) || !(options.toleranceMs >= 0))
    throw new RangeError("pacing and tolerance must be non-negative");
  const limit = options.pacingMs + options.toleranceMs;
  const stallIndices: number[] = [];
  let maxGapMs: number | undefined;
  for (let index = 1; index < arrivals.length; index++) {
    const gap = (arrivals[index] as number) - (arrivals[index - 1] as number);
    if (!Number.isFinite(gap) || gap < 0) throw new RangeError(`arrival ${index} is earlier than the one before`);
    if (maxGapMs === undefined || gap > maxGapMs) maxGapMs = gap;
    if (gap > limit) stallIndices.push(index);
  }
  return { gaps: Math.max(0, arrivals.length - 1), stalls: stallIndices.length, maxGapMs, stallIndices };
}

/** The gaps between consecutive arrivals. */
export function gapsOf(arrivals: ArrayLike<number>): Float64Array {
  const gaps = new Float64Array(Math.max(0, arrivals.length - 1));
  for (let index = 1; index < arrivals.length; index++)
    gaps[index - 1] = (arrivals[index] as number) - (arrivals[index - 1] as number);
  return gaps;
}

/** a − b, undefined when either side was not measured. */
export function difference(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return undefined;
  return a - b;
}

/** a / b, undefined when either side was not measured or b is not positive. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !(b > 0) || !Number.isFinite(b)) return undefined;
  return a / b;
}

/** Events per second; undefined when nothing was timed or nothing completed (zero samples is no figure). */
export function rate(count: number, elapsedMs: number): number | undefined {
  if (!(elapsedMs > 0) || !Number.isFinite(elapsedMs) || !Number.isFinite(count) || !(count > 0)) return undefined;
  return (count * 1000) / elapsedMs;
}

/**
 * The most intervals open at one moment (sweep line). An interval is [start, end]; one that ends
 * exactly where another starts does not overlap it.
 */
export function peakOverlap(intervals: ReadonlyArray<readonly [number, number]>): number {
  const events: Array<[number, number]> = [];
  for (const [start, end] of intervals) {
    if (!Number.isFinite(start) || !Number.isFinite(end) || end < start)
      throw new RangeError("intervals must be finite with end ≥ start");
    events.push([start, 1], [end, -1]);
  }
  // At equal times, ends before starts.
  events.sort((left, right) => left[0] - right[0] || left[1] - right[1]);
  let open = 0;
  let peak = 0;
  for (const [, delta] of events) {
    open += delta;
    if (open > peak) peak = open;
  }
  return peak;
}
