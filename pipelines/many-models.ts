import { definePipeline, Type } from "sluice";
import { generateSalesStep, leaderboard, readSales, trainStore } from "../steps/forecast/steps.ts";

/**
 * Many models trained in parallel: one forecasting model per store, each cached on its own
 * store's data, so editing one store's rows retrains one model.
 */
export default definePipeline({
  name: "many-models",
  description: "One forecasting model per store, then a leaderboard",
  params: Type.Object({
    stores: Type.Integer({ minimum: 1, maximum: 100_000, default: 200 }),
    weeks: Type.Integer({ minimum: 60, maximum: 520, default: 104 }),
    horizon: Type.Integer({ minimum: 1, maximum: 52, default: 8 }),
    /** A `store,week,sales` CSV to use instead of generated data. */
    csv: Type.String({ default: "" }),
  }),
  build(p, params) {
    const sales = params.csv
      ? p.step("read-sales", readSales, { inputs: { csv: p.file("sales-csv", params.csv) } })
      : p.step("generate-sales", generateSalesStep, { params: { stores: params.stores, weeks: params.weeks } });
    const models = p.map("train", trainStore, { over: sales.outputs.stores, as: "series", key: (s) => s.store, params: { horizon: params.horizon } });
    p.step("leaderboard", leaderboard, { inputs: { results: models.outputs.result } });
  },
});
