/**
 * Real models for the endpoint tests: two logistic regressions on iris (exported by the sluice
 * trainers' ONNX exporter with the column metadata, so rows are objects by column name), a plain
 * graph without sluice metadata, and a workspace with them registered.
 */
import fs from "node:fs";
import { loadConfig, Workspace } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { trainLogistic } from "../../../steps/ml/logistic.ts";
import { createMatrix } from "../../../steps/ml/matrix.ts";
import { exportLogistic } from "../../../steps/ml/onnx/export-linear.ts";
import { buildModel, ElemType, floatTensor } from "../../../steps/ml/onnx/model.ts";
import { Pipeline } from "../../../steps/ml/preprocess.ts";
import { withModelMeta } from "../../../steps/ml/steps/onnx-io.ts";

/** The iris feature columns, in the models' order. */
export const IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"] as const;

/** Iris rows as the endpoint takes them (objects by column name), with their species. */
export interface IrisData {
  readonly rows: Array<Record<string, number>>;
  readonly species: string[];
  readonly classes: string[];
}

/** The 150 iris rows of data/ml/iris.csv. */
export function irisData(): IrisData {
  const [header, ...lines] = fs.readFileSync(new URL("../../../data/ml/iris.csv", import.meta.url), "utf8").trim().split(/\r?\n/);
  const names = header!.split(",");
  const rows = lines.map((l) => Object.fromEntries(l.split(",").slice(0, 4).map((v, j) => [names[j]!, Number(v)])));
  const species = lines.map((l) => l.split(",")[4]!);
  return { rows, species, classes: [...new Set(species)].sort() };
}

/** A logistic regression on iris with preprocessing (standard scaling), as ONNX bytes with sluice metadata; `l2` makes versions differ. */
export function irisModel(data: IrisData, l2: number): Uint8Array {
  const X = createMatrix(data.rows.length, 4, Float64Array.from(data.rows.flatMap((r) => IRIS_COLUMNS.map((c) => r[c]!))));
  const pipeline = Pipeline.fit({ numeric: X });
  const y = data.species.map((s) => data.classes.indexOf(s));
  const model = trainLogistic(Pipeline.transform(pipeline, { numeric: X }), y, { l2 });
  const bytes = exportLogistic(model.params, pipeline);
  return withModelMeta(bytes, { task: "classification", label: "species", numeric: [...IRIS_COLUMNS], categorical: [], classes: data.classes, trainer: "logistic" });
}

/** A graph without sluice metadata: `x` float32 [N, 2] → `y` = x · [1, 10] as [N, 1]. */
export function plainModel(): Uint8Array {
  return buildModel({
    name: "plain",
    inputs: [{ name: "x", elemType: ElemType.FLOAT, shape: [null, 2] }],
    outputs: [{ name: "y", elemType: ElemType.FLOAT, shape: [null, 1] }],
    initializers: [floatTensor("W", [2, 1], [1, 10])],
    nodes: [{ op: "MatMul", inputs: ["x", "W"], outputs: ["y"] }],
  });
}

/** A temp workspace with its stores open. */
export interface ServingWorkspace {
  readonly dir: TestWorkspace;
  readonly ws: Workspace;
  /** Puts the bytes in the CAS and registers them as the next version of `name`. */
  register(name: string, bytes: Uint8Array): Promise<number>;
  close(): Promise<void>;
}

/** Opens a temp workspace for serving tests (files as given; `env` e.g. SLUICE_DATABASE_URL). */
export async function servingWorkspace(files: Record<string, string> = {}, env: Record<string, string> = {}): Promise<ServingWorkspace> {
  const dir = createTestWorkspace(files);
  const ws = await Workspace.open(await loadConfig({ root: dir.root, env }));
  return {
    dir,
    ws,
    async register(name, bytes) {
      const digest = ws.cas.putBytes(bytes);
      const v = await ws.models.register({ name, digest, metrics: {}, signature: null, lineage: { runId: "test", stepId: "train", pipeline: "test", inputs: {}, params: {}, codeDigest: null }, createdAt: Date.now() });
      return v.version;
    },
    async close() {
      await ws.close();
      dir.remove();
    },
  };
}
