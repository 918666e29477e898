import { defineStep, port, Type } from "sluice";
import type { Evaluation } from "./evaluate.ts";
import { beats, metricValue } from "./ranking.ts";

/** How a candidate compares with the current champion. */
export interface ChampionComparison {
  /** True when there is no champion, or the candidate beats it on `metric`. */
  readonly better: boolean;
  readonly metric: string;
  readonly candidate: number;
  /** The champion's version and value, or null when `name` has none yet. */
  readonly champion: { readonly version: number; readonly value: number | null } | null;
}

/**
 * Compares test metrics (an `evaluate` or `pick-best` output) with those of the current champion of a registered model. It reads
 * mutable registry state, so it is never cached.
 */
export const compareChampion = defineStep({
  name: "compare-champion",
  description: "Test metrics vs the registry's current champion",
  cache: false,
  inputs: { metrics: port.json<Evaluation | { evaluation: Evaluation }>() },
  outputs: { result: port.json<ChampionComparison>() },
  params: Type.Object({
    /** Registered model name. */
    name: Type.String({ minLength: 1 }),
    metric: Type.String({ default: "accuracy" }),
  }),
  async run({ inputs, params, models, log }) {
    const evaluation = "evaluation" in inputs.metrics ? inputs.metrics.evaluation : inputs.metrics;
    const candidate = metricValue(evaluation.metrics, params.metric, `compare-champion › input "metrics"`);
    const champ = await models.champion(params.name);
    if (!champ) {
      log("info", "no champion yet", { name: params.name });
      return { result: { better: true, metric: params.metric, candidate, champion: null } };
    }
    const value = champ.metrics[params.metric];
    const known = typeof value === "number" && Number.isFinite(value);
    if (!known) log("warn", "champion has no such metric; the candidate counts as better", { name: params.name, version: champ.version, metric: params.metric });
    const better = !known || beats(params.metric, candidate, value);
    log("info", "compared", { candidate, champion: known ? value : null, better });
    return { result: { better, metric: params.metric, candidate, champion: { version: champ.version, value: known ? value : null } } };
  },
});
