import type { StoreSeries } from "./sales.ts";

/** How the two models of one store did on the held-out weeks. */
export interface StoreResult {
  store: string;
  baselineMae: number;
  linearMae: number;
  best: "baseline" | "linear";
}

const SEASON = 52;

/** Solves the small normal equations (XᵀX) w = Xᵀy by Gaussian elimination with partial pivoting. */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[p]![c]!)) p = r;
    [a[c], a[p]] = [a[p]!, a[c]!];
    [b[c], b[p]] = [b[p]!, b[c]!];
    const d = a[c]![c]! || 1e-12;
    for (let r = c + 1; r < n; r++) {
      const f = a[r]![c]! / d;
      for (let k = c; k < n; k++) a[r]![k]! -= f * a[c]![k]!;
      b[r]! -= f * b[c]!;
    }
  }
  const w = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r]!;
    for (let k = r + 1; k < n; k++) s -= a[r]![k]! * w[k]!;
    w[r] = s / (a[r]![r]! || 1e-12);
  }
  return w;
}

const features = (y: readonly number[], t: number): number[] => [1, y[t - 1]!, y[t - 2]!, y[t - SEASON]!];

/**
 * Fits a seasonal naive baseline (same week last year) and a ridge-stabilised linear model on
 * lags 1, 2 and 52, on all but the last `horizon` weeks, and scores both one step ahead there.
 */
export function forecastStore(series: StoreSeries, horizon: number): StoreResult {
  const y = series.sales;
  const split = y.length - horizon;
  const xtx = [0, 1, 2, 3].map(() => [0, 0, 0, 0]);
  const xty = [0, 0, 0, 0];
  for (let t = SEASON; t < split; t++) {
    const f = features(y, t);
    for (let i = 0; i < 4; i++) {
      xty[i]! += f[i]! * y[t]!;
      for (let j = 0; j < 4; j++) xtx[i]![j]! += f[i]! * f[j]!;
    }
  }
  for (let i = 1; i < 4; i++) xtx[i]![i]! += 1e-3;
  const w = solve(xtx, xty);
  let baseline = 0;
  let linear = 0;
  for (let t = split; t < y.length; t++) {
    const f = features(y, t);
    baseline += Math.abs(y[t]! - y[t - SEASON]!);
    linear += Math.abs(y[t]! - f.reduce((a, v, i) => a + v * w[i]!, 0));
  }
  const baselineMae = Math.round((baseline / horizon) * 1e6) / 1e6;
  const linearMae = Math.round((linear / horizon) * 1e6) / 1e6;
  return { store: series.store, baselineMae, linearMae, best: linearMae < baselineMae ? "linear" : "baseline" };
}
