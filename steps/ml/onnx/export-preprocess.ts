import type { PipelineParams } from "../preprocess.ts";
import { buildModel, ElemType, floatTensor, int64Tensor, type NodeSpec, type ValueInfo } from "./model.ts";

/** Name of the raw numeric input `[N, F]` float32 of every exported model (NaN = missing). */
export const NUMERIC_INPUT = "input";

/**
 * Name of the raw categorical input `[N, K]` string (one column per categorical feature, in the
 * order the pipeline was fitted); present only when the pipeline has a one-hot encoder.
 */
export const CATEGORICAL_INPUT = "categorical";

/** A fragment of a graph: nodes and initializers from the raw inputs to one float output. */
export interface GraphPart {
  readonly nodes: NodeSpec[];
  readonly initializers: TensorProto[];
  readonly inputs: ValueInfo[];
  /** Name of the value holding the final feature matrix `[N, width]`. */
  readonly output: string;
  readonly width: number;
}

const ML = "ai.onnx.ml";

/** An ONNX initializer tensor, as built by `floatTensor` / `int64Tensor`. */
export type TensorProto = ReturnType<typeof floatTensor>;

/**
 * The fitted preprocessing as ONNX nodes: ai.onnx.ml `Imputer` (NaN → fitted value), `Scaler`
 * (`(x − offset) · 1/scale`), and for categoricals one `Gather` + ai.onnx.ml `OneHotEncoder`
 * (`zeros = 1`: unknown categories give all zeros) per column, concatenated after the numeric block.
 * Without params (`null`), the raw numeric input is the feature matrix.
 */
export function preprocessGraph(params: PipelineParams | null, numericFeatures: number): GraphPart {
  const inputs: ValueInfo[] = [{ name: NUMERIC_INPUT, elemType: ElemType.FLOAT, shape: [null, numericFeatures] }];
  if (!params) return { nodes: [], initializers: [], inputs, output: NUMERIC_INPUT, width: numericFeatures };
  if (params.numericColumns !== numericFeatures) throw new Error(`preprocessGraph: the pipeline was fitted on ${params.numericColumns} numeric columns, the model expects ${numericFeatures}.`);
  const nodes: NodeSpec[] = [];
  const initializers: TensorProto[] = [];
  let current = NUMERIC_INPUT;
  if (params.imputer) {
    nodes.push({ op: "Imputer", domain: ML, inputs: [current], outputs: ["imputed"], attrs: { imputed_value_floats: { floats: params.imputer.statistics }, replaced_value_float: Number.NaN } });
    current = "imputed";
  }
  if (params.scaler) {
    nodes.push({ op: "Scaler", domain: ML, inputs: [current], outputs: ["scaled"], attrs: { offset: { floats: params.scaler.offset }, scale: { floats: params.scaler.scale.map((s) => 1 / s) } } });
    current = "scaled";
  }
  if (!params.oneHot) return { nodes, initializers, inputs, output: current, width: numericFeatures };
  const categories = params.oneHot.categories;
  inputs.push({ name: CATEGORICAL_INPUT, elemType: ElemType.STRING, shape: [null, categories.length] });
  const blocks = [current];
  categories.forEach((cats, c) => {
    initializers.push(int64Tensor(`cat_index_${c}`, [], [c]));
    nodes.push({ op: "Gather", inputs: [CATEGORICAL_INPUT, `cat_index_${c}`], outputs: [`cat_${c}`], attrs: { axis: 1 } });
    nodes.push({ op: "OneHotEncoder", domain: ML, inputs: [`cat_${c}`], outputs: [`onehot_${c}`], attrs: { cats_strings: cats, zeros: 1 } });
    blocks.push(`onehot_${c}`);
  });
  nodes.push({ op: "Concat", inputs: blocks, outputs: ["features"], attrs: { axis: 1 } });
  return { nodes, initializers, inputs, output: "features", width: numericFeatures + categories.reduce((a, c) => a + c.length, 0) };
}

/** The preprocessing alone as a model: raw inputs → `features` `[N, width]` float. */
export function exportPreprocess(params: PipelineParams): Uint8Array {
  const part = preprocessGraph(params, params.numericColumns);
  const nodes = [...part.nodes];
  if (part.output !== "features") nodes.push({ op: "Identity", inputs: [part.output], outputs: ["features"] });
  return buildModel({
    name: "sluice_preprocess",
    nodes,
    inputs: part.inputs,
    initializers: part.initializers,
    outputs: [{ name: "features", elemType: ElemType.FLOAT, shape: [null, part.width] }],
    metadata: { "sluice.preprocess": JSON.stringify(params) },
  });
}
