import type { MlpParams } from "../mlp.ts";
import type { PipelineParams } from "../preprocess.ts";
import { checkWidth, classifierHead, exportMetadata, type ExportOptions } from "./export-linear.ts";
import { preprocessGraph, type TensorProto } from "./export-preprocess.ts";
import { buildModel, ElemType, floatTensor, type NodeSpec } from "./model.ts";

/**
 * An MLP with its preprocessing: `MatMul` + `Add` per layer with `Relu` between layers.
 * Classification → `label` [N] int64 and `probabilities` [N, C] float; regression →
 * `variable` [N, 1] float. Inputs as in {@link preprocessGraph}.
 */
export function exportMlp(model: MlpParams, preprocess: PipelineParams | null, options: ExportOptions = {}): Uint8Array {
  const first = model.layers[0];
  if (!first) throw new Error("exportMlp: the model has no layers.");
  const pre = preprocessGraph(preprocess, preprocess?.numericColumns ?? first.inputs);
  checkWidth("exportMlp", pre.width, first.inputs);
  const nodes: NodeSpec[] = [...pre.nodes];
  const initializers: TensorProto[] = [...pre.initializers];
  const regression = model.output === "identity";
  let current = pre.output;
  model.layers.forEach((layer, l) => {
    const last = l === model.layers.length - 1;
    initializers.push(floatTensor(`W${l}`, [layer.inputs, layer.outputs], layer.weights), floatTensor(`B${l}`, [layer.outputs], layer.bias));
    const z = last ? (regression ? "variable" : "logits") : `z${l}`;
    nodes.push({ op: "MatMul", inputs: [current, `W${l}`], outputs: [`xw${l}`] }, { op: "Add", inputs: [`xw${l}`, `B${l}`], outputs: [z] });
    if (!last) nodes.push({ op: "Relu", inputs: [z], outputs: [`h${l}`] });
    current = last ? z : `h${l}`;
  });
  const head = regression ? null : classifierHead("logits", model.output === "sigmoid" ? 1 : model.nClasses, model.nClasses);
  return buildModel({
    name: options.name ?? "sluice_mlp",
    inputs: pre.inputs,
    initializers: [...initializers, ...(head?.initializers ?? [])],
    nodes: [...nodes, ...(head?.nodes ?? [])],
    outputs: head?.graphOutputs ?? [{ name: "variable", elemType: ElemType.FLOAT, shape: [null, 1] }],
    metadata: exportMetadata("mlp", { task: model.task, nClasses: model.nClasses, preprocess }, options),
  });
}
