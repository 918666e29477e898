/** The built-in ML steps: data preparation, training, evaluation, registry and scoring. */
export { readTable } from "./read-table.ts";
export { selectColumns } from "./select-columns.ts";
export { filterRows } from "./filter-rows.ts";
export { split } from "./split.ts";
export { fitPreprocess } from "./fit-preprocess.ts";
export { trainRidge } from "./train-ridge.ts";
export { trainLogistic } from "./train-logistic.ts";
export { trainMlp } from "./train-mlp.ts";
export { trainGbdt } from "./train-gbdt.ts";
export { evaluate, type Evaluation, type ClassReport } from "./evaluate.ts";
export { pickBest, type PickResult } from "./pick-best.ts";
export { compareChampion, type ChampionComparison } from "./compare-champion.ts";
export { registerModel, type RegisteredVersion } from "./register-model.ts";
export { deploy } from "./deploy.ts";
export { scoreBatch } from "./score-batch.ts";
export { importOnnx, signatureProblems } from "./import-onnx.ts";
export type { FeatureSpec } from "./features.ts";
export type { ModelMeta, ModelSignature, PlainTensor, TensorSignature } from "./onnx-io.ts";
