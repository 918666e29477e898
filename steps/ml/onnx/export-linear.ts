import type { RidgeParams } from "../linear.ts";
import type { LogisticParams } from "../logistic.ts";
import type { PipelineParams } from "../preprocess.ts";
import { preprocessGraph, type TensorProto } from "./export-preprocess.ts";
import { buildModel, ElemType, floatTensor, type NodeSpec, type ValueInfo } from "./model.ts";

/** Options shared by the exporters. */
export interface ExportOptions {
  /** Graph name. */
  readonly name?: string;
  /** Class names in label order, stored as JSON in the `sluice.labels` metadata entry. */
  readonly labels?: readonly string[];
}

/** The classification head: logits → `probabilities` [N, C] (sigmoid or softmax) and `label` [N] int64 (ArgMax). */
export function classifierHead(logits: string, outputs: number, nClasses: number): { nodes: NodeSpec[]; initializers: TensorProto[]; graphOutputs: ValueInfo[] } {
  const nodes: NodeSpec[] = [];
  const initializers: TensorProto[] = [];
  if (outputs === 1) {
    // p(1) = σ(z); probabilities = [1 − p(1), p(1)].
    initializers.push(floatTensor("one", [1], [1]));
    nodes.push({ op: "Sigmoid", inputs: [logits], outputs: ["p_positive"] });
    nodes.push({ op: "Sub", inputs: ["one", "p_positive"], outputs: ["p_negative"] });
    nodes.push({ op: "Concat", inputs: ["p_negative", "p_positive"], outputs: ["probabilities"], attrs: { axis: 1 } });
  } else {
    nodes.push({ op: "Softmax", inputs: [logits], outputs: ["probabilities"], attrs: { axis: 1 } });
  }
  nodes.push({ op: "ArgMax", inputs: ["probabilities"], outputs: ["label"], attrs: { axis: 1, keepdims: 0 } });
  return {
    nodes,
    initializers,
    graphOutputs: [
      { name: "label", elemType: ElemType.INT64, shape: [null] },
      { name: "probabilities", elemType: ElemType.FLOAT, shape: [null, nClasses] },
    ],
  };
}

/** Graph metadata common to every exported model. */
export function exportMetadata(kind: string, extra: Record<string, unknown>, options: ExportOptions): Record<string, string> {
  const meta: Record<string, string> = { "sluice.model": kind };
  for (const [k, v] of Object.entries(extra)) meta[`sluice.${k}`] = JSON.stringify(v);
  if (options.labels) meta["sluice.labels"] = JSON.stringify(options.labels);
  return meta;
}

/** Throws unless the preprocessing produces exactly the features the model was trained on. */
export function checkWidth(where: string, width: number, features: number): void {
  if (width !== features) throw new Error(`${where}: the preprocessing produces ${width} features but the model takes ${features}. Export with the pipeline the model was trained after.`);
}

/**
 * Ridge regression with its preprocessing: raw `input` [N, F] float (plus `categorical` [N, K]
 * string if the pipeline one-hot encodes) → `variable` [N, 1] float, via `MatMul` + `Add`.
 */
export function exportRidge(model: RidgeParams, preprocess: PipelineParams | null, options: ExportOptions = {}): Uint8Array {
  const pre = preprocessGraph(preprocess, preprocess?.numericColumns ?? model.weights.length);
  checkWidth("exportRidge", pre.width, model.weights.length);
  return buildModel({
    name: options.name ?? "sluice_ridge",
    inputs: pre.inputs,
    initializers: [...pre.initializers, floatTensor("W", [model.weights.length, 1], model.weights), floatTensor("B", [1], [model.intercept])],
    nodes: [...pre.nodes, { op: "MatMul", inputs: [pre.output, "W"], outputs: ["xw"] }, { op: "Add", inputs: ["xw", "B"], outputs: ["variable"] }],
    outputs: [{ name: "variable", elemType: ElemType.FLOAT, shape: [null, 1] }],
    metadata: exportMetadata("ridge", { preprocess }, options),
  });
}

/**
 * Logistic regression (binary or multinomial) with its preprocessing: raw inputs → `label` [N]
 * int64 and `probabilities` [N, C] float, via `MatMul` + `Add` + `Sigmoid`/`Softmax` + `ArgMax`.
 */
export function exportLogistic(model: LogisticParams, preprocess: PipelineParams | null, options: ExportOptions = {}): Uint8Array {
  const pre = preprocessGraph(preprocess, preprocess?.numericColumns ?? model.features);
  checkWidth("exportLogistic", pre.width, model.features);
  const head = classifierHead("logits", model.outputs, model.nClasses);
  return buildModel({
    name: options.name ?? "sluice_logistic",
    inputs: pre.inputs,
    initializers: [...pre.initializers, floatTensor("W", [model.features, model.outputs], model.weights), floatTensor("B", [model.outputs], model.intercepts), ...head.initializers],
    nodes: [...pre.nodes, { op: "MatMul", inputs: [pre.output, "W"], outputs: ["xw"] }, { op: "Add", inputs: ["xw", "B"], outputs: ["logits"] }, ...head.nodes],
    outputs: head.graphOutputs,
    metadata: exportMetadata("logistic", { nClasses: model.nClasses, preprocess }, options),
  });
}
