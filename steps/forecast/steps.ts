import fs from "node:fs";
import { defineStep, port, SluiceError, Type } from "sluice";
import { forecastStore, type StoreResult } from "./models.ts";
import { generateSales, type StoreSeries } from "./sales.ts";

/** Generates the synthetic sales table: one series per store. */
export const generateSalesStep = defineStep({
  name: "generate-sales",
  outputs: { stores: port.json<StoreSeries[]>() },
  params: Type.Object({
    stores: Type.Integer({ minimum: 1, maximum: 100_000, default: 200 }),
    weeks: Type.Integer({ minimum: 60, maximum: 520, default: 104 }),
    seed: Type.Integer({ default: 7 }),
  }),
  run: ({ params }) => ({ stores: generateSales(params.stores, params.weeks, params.seed) }),
});

/** Reads `store,week,sales` rows from a CSV file into one series per store. */
export const readSales = defineStep({
  name: "read-sales",
  inputs: { csv: port.file() },
  outputs: { stores: port.json<StoreSeries[]>() },
  run({ inputs }) {
    const lines = fs.readFileSync(inputs.csv, "utf8").split("\n");
    if (lines[0]?.trim() !== "store,week,sales") throw new SluiceError("SLUICE_DATA_INVALID", `${inputs.csv}: row 1: expected the header "store,week,sales", got ${JSON.stringify(lines[0])}.`, { path: inputs.csv, row: 1 });
    const byStore = new Map<string, number[]>();
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim() === "") continue;
      const [store, week, sales] = line.split(",");
      const w = Number(week);
      const v = Number(sales);
      if (!store || !Number.isInteger(w) || !Number.isFinite(v)) {
        throw new SluiceError("SLUICE_DATA_INVALID", `${inputs.csv}: row ${i + 1}: expected store,week,sales with a whole week and a number, got ${JSON.stringify(line)}.`, { path: inputs.csv, row: i + 1 });
      }
      const s = byStore.get(store) ?? [];
      s[w] = v;
      byStore.set(store, s);
    }
    return { stores: [...byStore].map(([store, sales]) => ({ store, sales })) };
  },
});

/** Trains and scores one store's forecasting models (seasonal naive and linear on lags). */
export const trainStore = defineStep({
  name: "train-store",
  inputs: { series: port.json<StoreSeries>() },
  outputs: { result: port.json<StoreResult>() },
  params: Type.Object({ horizon: Type.Integer({ minimum: 1, maximum: 52, default: 8 }) }),
  run: ({ inputs, params }) => ({ result: forecastStore(inputs.series, params.horizon) }),
});

/** Ranks stores by the error of their best model. */
export const leaderboard = defineStep({
  name: "leaderboard",
  inputs: { results: port.json<StoreResult[]>() },
  outputs: { board: port.json<{ stores: number; linearWins: number; meanBestMae: number; worst: StoreResult[] }>() },
  run({ inputs, metric }) {
    const rs = inputs.results;
    const best = (r: StoreResult): number => Math.min(r.baselineMae, r.linearMae);
    const meanBestMae = rs.reduce((a, r) => a + best(r), 0) / Math.max(1, rs.length);
    metric("mean_best_mae", meanBestMae);
    return { board: { stores: rs.length, linearWins: rs.filter((r) => r.best === "linear").length, meanBestMae, worst: [...rs].sort((a, b) => best(b) - best(a)).slice(0, 10) } };
  },
});
