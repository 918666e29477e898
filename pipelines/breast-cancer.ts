import { definePipeline, Type } from "sluice";
import { compareChampion } from "../steps/ml/steps/compare-champion.ts";
import { evaluate } from "../steps/ml/steps/evaluate.ts";
import { fitPreprocess } from "../steps/ml/steps/fit-preprocess.ts";
import { pickBest } from "../steps/ml/steps/pick-best.ts";
import { readTable } from "../steps/ml/steps/read-table.ts";
import { registerModel } from "../steps/ml/steps/register-model.ts";
import { split } from "../steps/ml/steps/split.ts";
import { trainGbdt } from "../steps/ml/steps/train-gbdt.ts";
import { trainLogistic } from "../steps/ml/steps/train-logistic.ts";

/**
 * Binary classification (Breast Cancer Wisconsin): gradient-boosted trees and logistic regression
 * trained on the same stratified split, the better one on test accuracy compared with the
 * registry's champion, and registered (as the new champion) only if it clears `minAccuracy` and
 * beats the champion.
 *
 * Nightly retraining: `sluice serve` runs it at 02:00 Berlin time on whatever
 * `data/ml/breast_cancer.csv` holds then. Unchanged data is a cache hit all the way through;
 * new rows retrain both models, and the same gates decide promotion: the winner replaces the
 * champion only if it clears `minAccuracy` and beats the champion's accuracy, otherwise the
 * champion stays. A night whose previous run is still going is skipped; nights missed while the
 * server was down give one catch-up run at start-up.
 */
export default definePipeline({
  name: "breast-cancer",
  description: "GBDT vs logistic on breast cancer; gate on accuracy; register the winner",
  schedules: [{ id: "nightly-retrain", cron: "0 2 * * *", timezone: "Europe/Berlin", overlap: "skip", misfire: "run-once" }],
  params: Type.Object({
    data: Type.String({ default: "data/ml/breast_cancer.csv" }),
    seed: Type.Integer({ default: 42 }),
    testFraction: Type.Number({ exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.2 }),
    gbdtLearningRate: Type.Number({ exclusiveMinimum: 0, default: 0.1 }),
    gbdtIterations: Type.Integer({ minimum: 1, default: 100 }),
    logisticL2: Type.Number({ minimum: 0, default: 0.01 }),
    /** The winner is registered only with at least this test accuracy. */
    minAccuracy: Type.Number({ minimum: 0, maximum: 1, default: 0.95 }),
    model: Type.String({ default: "breast-cancer" }),
  }),
  build(p, params) {
    const label = "diagnosis";
    const read = p.step("read", readTable, { inputs: { file: p.file("csv", params.data) }, params: { textColumns: [label] } });
    const parts = p.step("split", split, { inputs: { table: read.outputs.table }, params: { label, seed: params.seed, testFraction: params.testFraction } });
    const prep = p.step("preprocess", fitPreprocess, { inputs: { train: parts.outputs.train }, params: { label, task: "classification" } });
    const data = { train: parts.outputs.train, preprocess: prep.outputs.params };
    const gbdt = p.step("train-gbdt", trainGbdt, { inputs: data, params: { learningRate: params.gbdtLearningRate, maxIter: params.gbdtIterations } });
    const logistic = p.step("train-logistic", trainLogistic, { inputs: data, params: { l2: params.logisticL2 } });
    const evalGbdt = p.step("evaluate-gbdt", evaluate, { inputs: { model: gbdt.outputs.onnx, test: parts.outputs.test } });
    const evalLogistic = p.step("evaluate-logistic", evaluate, { inputs: { model: logistic.outputs.onnx, test: parts.outputs.test } });
    const best = p.step("pick-best", pickBest, {
      inputs: { metricsA: evalGbdt.outputs.metrics, modelA: gbdt.outputs.onnx, metricsB: evalLogistic.outputs.metrics, modelB: logistic.outputs.onnx },
      params: { metric: "accuracy" },
    });
    const gate = p.when(best.outputs.best, (b) => b.value >= params.minAccuracy, `test accuracy ≥ ${params.minAccuracy}`);
    const compare = p.step("compare-champion", compareChampion, { inputs: { metrics: best.outputs.best }, params: { name: params.model, metric: "accuracy" }, when: gate });
    p.step("register", registerModel, {
      inputs: { model: best.outputs.model, metrics: best.outputs.best },
      params: { name: params.model, promote: true },
      when: p.when(compare.outputs.result, (r) => r.better, "beats the champion"),
    });
  },
});
