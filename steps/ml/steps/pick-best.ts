import fs from "node:fs";
import { defineStep, port, Type } from "sluice";
import type { Evaluation } from "./evaluate.ts";
import { beats, metricValue } from "./ranking.ts";

/** The candidate that won, with its evaluation. */
export interface PickResult {
  readonly winner: "a" | "b";
  readonly trainer: string;
  readonly metric: string;
  readonly value: number;
  readonly evaluation: Evaluation;
}

/**
 * Compares two evaluated candidates on one test metric and passes on the winner's evaluation and
 * ONNX file (byte for byte, so a rerun that picks the same model leaves its dependents cached).
 * A tie goes to `a`.
 */
export const pickBest = defineStep({
  name: "pick-best",
  description: "The better of two evaluated models on a test metric",
  inputs: { metricsA: port.json<Evaluation>(), modelA: port.file(), metricsB: port.json<Evaluation>(), modelB: port.file() },
  outputs: { best: port.json<PickResult>(), model: port.file() },
  params: Type.Object({
    /** Metric to compare (rmse, mae and log_loss: lower is better; others: higher). */
    metric: Type.String({ default: "accuracy" }),
  }),
  run({ inputs, params, log }) {
    const a = metricValue(inputs.metricsA.metrics, params.metric, `pick-best › input "metricsA"`);
    const b = metricValue(inputs.metricsB.metrics, params.metric, `pick-best › input "metricsB"`);
    const winner: "a" | "b" = beats(params.metric, b, a) ? "b" : "a";
    const evaluation = winner === "a" ? inputs.metricsA : inputs.metricsB;
    log("info", "picked", { metric: params.metric, a, b, winner, trainer: evaluation.trainer });
    return {
      best: { winner, trainer: evaluation.trainer, metric: params.metric, value: winner === "a" ? a : b, evaluation },
      model: new Uint8Array(fs.readFileSync(winner === "a" ? inputs.modelA : inputs.modelB)),
    };
  },
});
