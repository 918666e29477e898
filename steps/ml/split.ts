import { createRng, type Rng } from "./rng.ts";

/** Row indices of a split, each list ascending. */
export interface SplitIndices {
  readonly train: number[];
  readonly test: number[];
}

/** A class label used for stratification. */
export type StratumLabel = string | number;

/** Options of {@link trainTestSplit}. */
export interface TrainTestSplitOptions {
  /** Share of rows in the test set, in (0, 1). The count is rounded and kept within 1..n-1. */
  readonly testFraction: number;
  /** Seed of the shuffle: the same seed gives the same split. */
  readonly seed: number;
  /** One label per row: every class keeps its proportion in both parts. */
  readonly stratify?: ArrayLike<StratumLabel>;
}

/** Options of {@link kFold}. */
export interface KFoldOptions {
  readonly seed: number;
  readonly stratify?: ArrayLike<StratumLabel>;
}

function groups(n: number, stratify: ArrayLike<StratumLabel> | undefined, where: string): number[][] {
  if (stratify === undefined) return [Array.from({ length: n }, (_, i) => i)];
  if (stratify.length !== n) throw new Error(`${where}: stratify has ${stratify.length} labels for ${n} rows. Pass one label per row.`);
  const byLabel = new Map<StratumLabel, number[]>();
  for (let i = 0; i < n; i++) {
    const label = stratify[i]!;
    const list = byLabel.get(label);
    if (list) list.push(i);
    else byLabel.set(label, [i]);
  }
  // Sorted labels, so the result does not depend on which class appears first.
  return [...byLabel.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0)).map(([, rows]) => rows);
}

/** Splits quota `total` over groups in proportion to their sizes (largest remainder, ties by order). */
function apportion(sizes: readonly number[], total: number): number[] {
  const n = sizes.reduce((a, b) => a + b, 0);
  const exact = sizes.map((s) => (s * total) / n);
  const counts = exact.map(Math.floor);
  const order = exact.map((e, i) => ({ i, rem: e - Math.floor(e) })).sort((a, b) => b.rem - a.rem || a.i - b.i);
  let left = total - counts.reduce((a, b) => a + b, 0);
  for (const { i } of order) {
    if (left === 0) break;
    counts[i]! += 1;
    left--;
  }
  return counts;
}

/**
 * Shuffled train/test split of `n` rows. With `stratify`, each class is split separately and the
 * test count is apportioned to classes by size, so proportions match within one row per class.
 */
export function trainTestSplit(n: number, options: TrainTestSplitOptions): SplitIndices {
  const { testFraction, seed, stratify } = options;
  if (!Number.isInteger(n) || n < 2) throw new Error(`trainTestSplit: need at least 2 rows to split, got ${n}.`);
  if (!(testFraction > 0 && testFraction < 1)) throw new Error(`trainTestSplit: testFraction must be in (0, 1), got ${testFraction}.`);
  const rng = createRng(seed);
  const parts = groups(n, stratify, "trainTestSplit");
  const nTest = Math.min(n - 1, Math.max(1, Math.round(n * testFraction)));
  const quotas = apportion(parts.map((p) => p.length), nTest);
  const train: number[] = [];
  const test: number[] = [];
  parts.forEach((rows, g) => {
    const shuffled = rng.shuffle([...rows]);
    test.push(...shuffled.slice(0, quotas[g]));
    train.push(...shuffled.slice(quotas[g]));
  });
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}

function deal(parts: number[][], k: number, rng: Rng): number[][] {
  const folds: number[][] = Array.from({ length: k }, () => []);
  let next = 0;
  // Round-robin continues across classes, so fold sizes differ by at most one row.
  for (const rows of parts) {
    for (const r of rng.shuffle([...rows])) {
      folds[next]!.push(r);
      next = (next + 1) % k;
    }
  }
  return folds;
}

/**
 * `k` shuffled folds of `n` rows: fold i tests on its rows and trains on all others. With
 * `stratify`, each class is dealt round-robin over the folds, so each fold keeps class proportions.
 */
export function kFold(n: number, k: number, options: KFoldOptions): SplitIndices[] {
  if (!Number.isInteger(k) || k < 2) throw new Error(`kFold: k must be an integer ≥ 2, got ${k}.`);
  if (!Number.isInteger(n) || n < k) throw new Error(`kFold: ${n} rows cannot fill ${k} folds. Use k ≤ n.`);
  const folds = deal(groups(n, options.stratify, "kFold"), k, createRng(options.seed));
  return folds.map((test, f) => ({
    train: folds.flatMap((rows, g) => (g === f ? [] : rows)).sort((a, b) => a - b),
    test: [...test].sort((a, b) => a - b),
  }));
}
