/**
 * What an endpoint's model takes and gives, read once when its ONNX bytes are loaded: the columns
 * a row must supply (by name, or by position in that order), how they become input tensors, and
 * how output tensors become one prediction per row. Models exported by the sluice trainers carry
 * a `sluice.columns` metadata entry (raw table columns, class names); any other model is served
 * by its graph inputs and outputs (one column per input).
 */
import onnxProto from "onnx-proto";
import ort from "onnxruntime-node";
import { SluiceError } from "../errors.ts";

const { onnx } = onnxProto;

/** Element types a served model may take. */
export type FeedType = "float32" | "float64" | "int32" | "int64" | "string" | "bool";

const FEED_TYPES: ReadonlySet<string> = new Set<FeedType>(["float32", "float64", "int32", "int64", "string", "bool"]);

/** One value a row supplies: a scalar (`width` 1) or an array of `width` values. */
export interface InputColumn {
  readonly name: string;
  readonly type: FeedType;
  readonly width: number;
}

/** One input tensor, made of consecutive columns (indices into `ModelIO.columns`). */
interface FeedPlan {
  readonly input: string;
  readonly type: FeedType;
  readonly columns: readonly number[];
  /** Tensor dims after the batch dimension (empty for a rank-1 input). */
  readonly inner: readonly number[];
}

/** The sluice trainers' metadata (see steps/ml/steps/onnx-io.ts). */
interface SluiceColumns {
  readonly task: "classification" | "regression";
  readonly numeric: string[];
  readonly categorical: string[];
  readonly classes: string[];
}

/** How rows become feeds and outputs become predictions, for one model. */
export interface ModelIO {
  readonly columns: readonly InputColumn[];
  readonly feeds: readonly FeedPlan[];
  /** Set for models exported by the sluice trainers. */
  readonly sluice?: SluiceColumns;
  readonly outputs: readonly string[];
}

/** One row's answer: `prediction` (and `probabilities` by class) for sluice models, else one entry per output. */
export type Prediction = Record<string, unknown>;

/** Reads a value of row `i` and column `c`: from a request's rows or from a table. */
export type CellGetter = (i: number, c: number, name: string) => unknown;

function sluiceColumns(bytes: Uint8Array): SluiceColumns | undefined {
  const entry = onnx.ModelProto.decode(bytes).metadataProps.find((p) => p.key === "sluice.columns");
  return entry?.value ? (JSON.parse(entry.value) as SluiceColumns) : undefined;
}

/** Describes a model from its bytes and its loaded session; `where` names it in errors. */
export function describeModel(bytes: Uint8Array, session: ort.InferenceSession, where: string): ModelIO {
  const meta = sluiceColumns(bytes);
  if (meta && session.inputNames.includes("input")) {
    const columns: InputColumn[] = [...meta.numeric.map((name) => ({ name, type: "float32" as const, width: 1 })), ...meta.categorical.map((name) => ({ name, type: "string" as const, width: 1 }))];
    const feeds: FeedPlan[] = [{ input: "input", type: "float32", columns: meta.numeric.map((_, j) => j), inner: [meta.numeric.length] }];
    if (meta.categorical.length > 0) feeds.push({ input: "categorical", type: "string", columns: meta.categorical.map((_, j) => meta.numeric.length + j), inner: [meta.categorical.length] });
    return { columns, feeds, sluice: meta, outputs: [...session.outputNames] };
  }
  const columns: InputColumn[] = [];
  const feeds: FeedPlan[] = [];
  for (const m of session.inputMetadata) {
    if (!m.isTensor || !FEED_TYPES.has(m.type)) {
      throw new SluiceError("SLUICE_SCORING_FAILED", `${where}: input "${m.name}" is ${m.isTensor ? `a ${m.type} tensor` : "not a tensor"}; endpoints serve inputs of ${[...FEED_TYPES].join(", ")}. Export the model with plain tensor inputs.`, { input: m.name });
    }
    const inner = m.shape.slice(1);
    if (m.shape.length === 0 || inner.some((d) => typeof d !== "number" || d < 1)) {
      throw new SluiceError("SLUICE_SCORING_FAILED", `${where}: input "${m.name}" has shape [${m.shape.join(", ")}]; endpoints need a batch dimension first and fixed sizes after it. Export the model with shape [N] or [N, k].`, { input: m.name });
    }
    const width = (inner as number[]).reduce((a, d) => a * d, 1);
    feeds.push({ input: m.name, type: m.type as FeedType, columns: [columns.length], inner: inner as number[] });
    columns.push({ name: m.name, type: m.type as FeedType, width });
  }
  return { columns, feeds, outputs: [...session.outputNames] };
}

function badCell(where: string, i: number, col: InputColumn, v: unknown, what: string): SluiceError {
  const shown = v === undefined ? "nothing" : JSON.stringify(v)?.slice(0, 60) ?? String(v);
  return new SluiceError("SLUICE_DATA_INVALID", `${where} › row ${i}, column "${col.name}": expected ${what}, got ${shown}. Send ${what} for "${col.name}" in every row.`, { row: i, column: col.name, field: `rows/${i}/${col.name}` });
}

function scalarWhat(type: FeedType): string {
  if (type === "string") return "a string";
  if (type === "bool") return "a boolean";
  if (type === "int32" || type === "int64") return "an integer";
  return "a number (or null for missing)";
}

/** Writes one cell into `out` at `k`; throws naming the row and column when it does not fit. */
function put(out: FeedData, k: number, v: unknown, type: FeedType, fail: () => SluiceError): void {
  switch (type) {
    case "float32":
    case "float64":
      if (typeof v === "number") out[k] = v;
      else if (v === null) out[k] = Number.NaN;
      else throw fail();
      return;
    case "int32":
    case "int64":
      if (typeof v !== "number" || !Number.isInteger(v)) throw fail();
      if (type === "int64") (out as BigInt64Array)[k] = BigInt(v);
      else out[k] = v;
      return;
    case "bool":
      if (typeof v !== "boolean") throw fail();
      out[k] = v ? 1 : 0;
      return;
    case "string":
      if (typeof v === "string") out[k] = v;
      else if (typeof v === "number" && Number.isFinite(v)) out[k] = String(v);
      else if (v === null) out[k] = "";
      else throw fail();
      return;
    default: {
      const never: never = type;
      throw new Error(`unknown feed type ${String(never)}`);
    }
  }
}

/** An empty feed array of `n` values. */
export function allocate(type: FeedType, n: number): FeedData {
  switch (type) {
    case "float32": return new Float32Array(n);
    case "float64": return new Float64Array(n);
    case "int32": return new Int32Array(n);
    case "int64": return new BigInt64Array(n);
    case "bool": return new Uint8Array(n);
    case "string": return new Array<string>(n);
    default: {
      const never: never = type;
      throw new Error(`unknown feed type ${String(never)}`);
    }
  }
}

/** The values of one input tensor for some rows, before they become an `ort.Tensor`. */
export interface PlainFeed {
  readonly type: FeedType;
  readonly data: FeedData;
  /** Dims after the batch dimension. */
  readonly inner: readonly number[];
}

/** The backing array of a feed. */
export type FeedData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | string[];

/** A session output as plain data (also a slice of one, for a request of a micro-batch). */
export interface PlainOutput {
  readonly data: ArrayLike<unknown>;
  readonly dims: readonly number[];
}

/**
 * The input values for `n` rows; a missing or mistyped value throws naming its row (`rowBase + i`)
 * and column.
 */
export function buildFeeds(io: ModelIO, n: number, get: CellGetter, where: string, rowBase = 0): Record<string, PlainFeed> {
  const feeds: Record<string, PlainFeed> = {};
  for (const plan of io.feeds) {
    const width = plan.columns.reduce((a, c) => a + io.columns[c]!.width, 0);
    const out = allocate(plan.type, n * width);
    for (let i = 0; i < n; i++) {
      let k = i * width;
      for (const c of plan.columns) {
        const col = io.columns[c]!;
        const v = get(i, c, col.name);
        if (col.width === 1) {
          put(out, k++, v, plan.type, () => badCell(where, rowBase + i, col, v, scalarWhat(plan.type)));
          continue;
        }
        const what = `an array of ${col.width} values, each ${scalarWhat(plan.type)}`;
        if (!Array.isArray(v) || v.length !== col.width) throw badCell(where, rowBase + i, col, v, what);
        for (const x of v) put(out, k++, x, plan.type, () => badCell(where, rowBase + i, col, v, what));
      }
    }
    feeds[plan.input] = { type: plan.type, data: out, inner: plan.inner };
  }
  return feeds;
}

/** Session feeds for `n` rows of plain feeds. */
export function toTensors(feeds: Readonly<Record<string, PlainFeed>>, n: number): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {};
  for (const [name, f] of Object.entries(feeds)) out[name] = new ort.Tensor(f.type, f.data as Float32Array, [n, ...f.inner]);
  return out;
}

const plain = (v: unknown): unknown => (typeof v === "bigint" ? Number(v) : v);

/** One prediction per row from a session's outputs. */
export function readPredictions(io: ModelIO, out: Readonly<Record<string, PlainOutput>>, n: number): Prediction[] {
  const rows: Prediction[] = new Array<Prediction>(n);
  const meta = io.sluice;
  if (meta?.task === "classification") {
    const labels = out["label"]!.data as ArrayLike<bigint>;
    const proba = out["probabilities"]!.data as ArrayLike<number>;
    const C = meta.classes.length;
    for (let i = 0; i < n; i++) {
      const probabilities: Record<string, number> = {};
      meta.classes.forEach((c, k) => (probabilities[c] = proba[i * C + k]!));
      rows[i] = { prediction: meta.classes[Number(labels[i])], probabilities };
    }
    return rows;
  }
  if (meta?.task === "regression") {
    const values = out["variable"]!.data as ArrayLike<number>;
    for (let i = 0; i < n; i++) rows[i] = { prediction: values[i] };
    return rows;
  }
  for (let i = 0; i < n; i++) rows[i] = {};
  for (const name of io.outputs) {
    const t = out[name]!;
    const width = t.dims.slice(1).reduce((a, d) => a * d, 1);
    const data = t.data;
    for (let i = 0; i < n; i++) {
      rows[i]![name] = width === 1 && t.dims.length <= 2 ? plain(data[i]) : Array.from({ length: width }, (_, j) => plain(data[i * width + j]));
    }
  }
  return rows;
}
