/** A seeded pseudo-random generator: the only source of randomness in `steps/ml`. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal (Box–Muller). */
  normal(): number;
  /** Shuffles `values` in place (Fisher–Yates) and returns it. */
  shuffle<T>(values: T[]): T[];
  /** A random permutation of 0..n-1. */
  permutation(n: number): number[];
}

/**
 * A mulberry32 generator: 32-bit state, fast, and identical on every platform, so the same seed
 * always gives the same splits, initial weights and mini-batches.
 */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new Error(`createRng: seed must be a finite number, got ${seed}.`);
  let state = Math.trunc(seed) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const shuffle = <T>(values: T[]): T[] => {
    for (let i = values.length - 1; i > 0; i--) {
      const j = int(i + 1);
      const tmp = values[i]!;
      values[i] = values[j]!;
      values[j] = tmp;
    }
    return values;
  };
  return {
    next,
    int,
    normal: () => {
      const u = 1 - next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    shuffle,
    permutation: (n) => shuffle(Array.from({ length: n }, (_, i) => i)),
  };
}
