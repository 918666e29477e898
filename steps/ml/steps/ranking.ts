/** Which way a metric points, for comparing models. */

/** Metrics where a smaller value is better; every other metric is better when larger. */
export const LOWER_IS_BETTER: readonly string[] = ["rmse", "mae", "log_loss", "mse"];

/** True when `a` is strictly better than `b` on `metric`. */
export function beats(metric: string, a: number, b: number): boolean {
  return LOWER_IS_BETTER.includes(metric) ? a < b : a > b;
}

/** The value of `metric` in a flat metrics record; a missing one throws listing those present. */
export function metricValue(metrics: Readonly<Record<string, number>>, metric: string, where: string): number {
  const v = metrics[metric];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new Error(`${where}: metric "${metric}" is not among the evaluation's metrics (${Object.keys(metrics).join(", ")}). Pick one of those.`);
  }
  return v;
}
