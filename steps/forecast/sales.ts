import { createRng } from "../ml/rng.ts";

/** Weekly sales of one store. */
export interface StoreSeries {
  store: string;
  sales: number[];
}

/** Store ids: store-0001, store-0002, … */
export function storeId(i: number): string {
  return `store-${String(i + 1).padStart(4, "0")}`;
}

/**
 * Synthetic weekly sales per store: a level, a trend, a yearly season and noise, different per
 * store and reproducible for a seed. Values are rounded to cents.
 */
export function generateSales(stores: number, weeks: number, seed: number): StoreSeries[] {
  const out: StoreSeries[] = [];
  for (let s = 0; s < stores; s++) {
    const r = createRng(seed * 100_003 + s).next;
    const level = 500 + r() * 1500;
    const trend = (r() - 0.3) * 3;
    const amp = 0.1 + r() * 0.3;
    const phase = r() * 52;
    const sales: number[] = [];
    for (let w = 0; w < weeks; w++) {
      const season = 1 + amp * Math.sin((2 * Math.PI * (w + phase)) / 52);
      const noise = 1 + (r() - 0.5) * 0.1;
      sales.push(Math.round((level + trend * w) * season * noise * 100) / 100);
    }
    out.push({ store: storeId(s), sales });
  }
  return out;
}

/** CSV `store,week,sales` (one row per store and week). */
export function salesToCsv(series: readonly StoreSeries[]): string {
  const lines = ["store,week,sales"];
  for (const s of series) s.sales.forEach((v, w) => lines.push(`${s.store},${w},${v}`));
  return lines.join("\n") + "\n";
}
