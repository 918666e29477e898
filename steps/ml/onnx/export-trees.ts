/**
 * ONNX export of the gradient-boosted trees of `../gbdt.ts` as ai.onnx.ml `TreeEnsembleRegressor`
 * / `TreeEnsembleClassifier` (opset 3).
 *
 * The float32 `input` is cast to double first: onnxruntime then sums the leaf values in double
 * (with a float input it sums in float32, which drifts by ~1e-4 on regression targets in the hundreds) while
 * comparing exactly as in float32, because every threshold is a float32 value. Splits are
 * `BRANCH_LEQ` with the true branch on the left, and `nodes_missing_value_tracks_true` carries
 * each split's missing direction.
 */
import type { GbdtParams } from "../gbdt.ts";
import { buildModel, ElemType, type AttrValue } from "./model.ts";

/** Options of the tree exporter. */
export interface TreeExportOptions {
  /** Graph name. @default "sluice_gbdt" */
  readonly name?: string;
  /** Class names in label order, stored as JSON in the `sluice.labels` metadata entry. */
  readonly labels?: readonly string[];
}

/** A double tensor attribute (the `*_as_tensor` attributes of the tree operators). */
function doubles(values: readonly number[]): AttrValue {
  return { tensor: { dataType: ElemType.DOUBLE, dims: [values.length], doubleData: [...values] } };
}

interface Flattened {
  readonly nodes: Record<string, AttrValue>;
  readonly leafTrees: number[];
  readonly leafNodes: number[];
  readonly leafTargets: number[];
  readonly leafWeights: number[];
}

/** The node tuples of every tree, and one weight per leaf. */
function flatten(params: GbdtParams): Flattened {
  const n = { treeIds: [] as number[], nodeIds: [] as number[], featureIds: [] as number[], modes: [] as string[], values: [] as number[], trueIds: [] as number[], falseIds: [] as number[], missingTrue: [] as number[] };
  const out = { leafTrees: [] as number[], leafNodes: [] as number[], leafTargets: [] as number[], leafWeights: [] as number[] };
  params.trees.forEach((tree, t) => {
    tree.nodes.forEach((node, id) => {
      const leaf = node.feature < 0;
      n.treeIds.push(t);
      n.nodeIds.push(id);
      n.featureIds.push(leaf ? 0 : node.feature);
      n.modes.push(leaf ? "LEAF" : "BRANCH_LEQ");
      n.values.push(leaf ? 0 : node.threshold);
      n.trueIds.push(leaf ? 0 : node.left);
      n.falseIds.push(leaf ? 0 : node.right);
      n.missingTrue.push(!leaf && node.missingLeft ? 1 : 0);
      if (leaf) {
        out.leafTrees.push(t);
        out.leafNodes.push(id);
        out.leafTargets.push(tree.output);
        out.leafWeights.push(node.value);
      }
    });
  });
  const nodes: Record<string, AttrValue> = {
    nodes_treeids: { ints: n.treeIds },
    nodes_nodeids: { ints: n.nodeIds },
    nodes_featureids: { ints: n.featureIds },
    nodes_modes: n.modes,
    nodes_values_as_tensor: doubles(n.values),
    nodes_truenodeids: { ints: n.trueIds },
    nodes_falsenodeids: { ints: n.falseIds },
    nodes_missing_value_tracks_true: { ints: n.missingTrue },
  };
  return { nodes, ...out };
}

/**
 * onnxruntime treats a binary ensemble whose leaf weights are all ≥ 0 as already holding
 * probabilities (no sigmoid, label at 0.5). Moving a constant from the first tree's leaves into
 * the base score gives it a negative weight without changing any sum.
 */
function ensureNegativeWeight(f: Flattened, base: number[], firstTreeLeaves: number): void {
  if (f.leafWeights.some((w) => w < 0)) return;
  const shift = Math.max(...f.leafWeights.slice(0, firstTreeLeaves)) + 1;
  for (let i = 0; i < firstTreeLeaves; i++) f.leafWeights[i]! -= shift;
  base[0]! += shift;
}

/** Throws unless the parameters describe a model this exporter understands. */
function check(params: GbdtParams): void {
  if (params.kind !== "gbdt" || params.trees.length === 0 || params.baseScore.length !== params.outputs) {
    throw new Error(`exportGbdt: expected trained gbdt parameters with ≥ 1 tree and ${params.outputs} base scores, got kind ${JSON.stringify(params.kind)} with ${params.trees.length} trees. Pass trainGbdt(...).params.`);
  }
}

/**
 * The ensemble as an ONNX model taking `input` [N, F] float32 (NaN = missing). Regression
 * outputs `variable` [N, 1] float; classification outputs `label` [N] int64 and `probabilities`
 * [N, C] float (binary: [1 − p, p]).
 */
export function exportGbdt(params: GbdtParams, options: TreeExportOptions = {}): Uint8Array {
  check(params);
  const f = flatten(params);
  const base = [...params.baseScore];
  const metadata: Record<string, string> = { "sluice.model": "gbdt", "sluice.task": params.task, "sluice.iterations": String(params.iterations) };
  if (options.labels) metadata["sluice.labels"] = JSON.stringify(options.labels);
  const cast = { op: "Cast", inputs: ["input"], outputs: ["input_double"], attrs: { to: ElemType.DOUBLE } };
  const common = { name: options.name ?? "sluice_gbdt", inputs: [{ name: "input", elemType: ElemType.FLOAT, shape: [null, params.features] }], metadata };
  if (params.task === "regression") {
    return buildModel({
      ...common,
      nodes: [cast, {
        op: "TreeEnsembleRegressor", domain: "ai.onnx.ml", inputs: ["input_double"], outputs: ["variable"],
        attrs: {
          ...f.nodes, n_targets: 1, aggregate_function: "SUM", post_transform: "NONE", base_values_as_tensor: doubles(base),
          target_treeids: { ints: f.leafTrees }, target_nodeids: { ints: f.leafNodes }, target_ids: { ints: f.leafTargets }, target_weights_as_tensor: doubles(f.leafWeights),
        },
      }],
      outputs: [{ name: "variable", elemType: ElemType.FLOAT, shape: [null, 1] }],
    });
  }
  if (params.task === "binary") ensureNegativeWeight(f, base, params.trees[0]!.nodes.filter((n) => n.feature < 0).length);
  return buildModel({
    ...common,
    nodes: [cast, {
      op: "TreeEnsembleClassifier", domain: "ai.onnx.ml", inputs: ["input_double"], outputs: ["label", "probabilities"],
      attrs: {
        ...f.nodes,
        // Binary: one score (the log-odds of class 1) on class id 0, as onnxruntime expects it.
        classlabels_int64s: { ints: Array.from({ length: params.nClasses }, (_, k) => k) },
        post_transform: params.task === "binary" ? "LOGISTIC" : "SOFTMAX",
        base_values_as_tensor: doubles(base),
        class_treeids: { ints: f.leafTrees }, class_nodeids: { ints: f.leafNodes }, class_ids: { ints: f.leafTargets }, class_weights_as_tensor: doubles(f.leafWeights),
      },
    }],
    outputs: [
      { name: "label", elemType: ElemType.INT64, shape: [null] },
      { name: "probabilities", elemType: ElemType.FLOAT, shape: [null, params.nClasses] },
    ],
  });
}
