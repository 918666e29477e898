/**
 * ONNX files as the ML steps pass them around: the sluice metadata that says which table
 * columns feed a model, signatures (input/output names, types, shapes), and scoring a table.
 */
import type onnxProto from "onnx-proto";
import type { Table } from "sluice";
import { createSession, onnx, ort } from "../onnx/model.ts";
import { dataInvalid, modelInputs, type FeatureSpec } from "./features.ts";

/** What a model needs from a table and what its outputs mean; stored in the ONNX metadata. */
export interface ModelMeta {
  readonly task: "classification" | "regression";
  readonly label: string;
  readonly numeric: string[];
  readonly categorical: string[];
  readonly classes: string[];
  /** The trainer that produced it (`ridge`, `logistic`, `mlp`, `gbdt`). */
  readonly trainer: string;
}

/** One graph input or output: element type name and shape (`null` = any size). */
export interface TensorSignature {
  readonly name: string;
  readonly type: string;
  readonly shape: (number | null)[];
}

/** The inputs and outputs of a model, in graph order. */
export interface ModelSignature {
  readonly inputs: TensorSignature[];
  readonly outputs: TensorSignature[];
}

const META_KEY = "sluice.columns";

const ELEM_TYPES: Readonly<Record<number, string>> = { 1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64" };

const toNumber = (v: unknown): number => (typeof v === "object" && v !== null && "toNumber" in v ? (v as { toNumber(): number }).toNumber() : Number(v));

/** Decodes ONNX bytes; bytes that are not a model throw naming `where`. */
function decode(bytes: Uint8Array, where: string): onnxProto.onnx.ModelProto {
  try {
    const m = onnx.ModelProto.decode(bytes);
    if (!m.graph) throw new Error("no graph");
    return m;
  } catch (err) {
    throw dataInvalid(where, `is not an ONNX model (${(err as Error).message})`, "Pass a .onnx file (ModelProto).");
  }
}

/** A copy of the model with `meta` (the table columns it reads) in its metadata, and the trainer name. */
export function withModelMeta(bytes: Uint8Array, meta: ModelMeta): Uint8Array {
  const m = decode(bytes, "model");
  m.metadataProps = [...m.metadataProps.filter((p) => p.key !== META_KEY), onnx.StringStringEntryProto.create({ key: META_KEY, value: JSON.stringify(meta) })];
  return onnx.ModelProto.encode(m).finish();
}

/** The column metadata of a model exported by a sluice trainer; other models throw naming `where`. */
export function readModelMeta(bytes: Uint8Array, where: string): ModelMeta {
  const entry = decode(bytes, where).metadataProps.find((p) => p.key === META_KEY);
  if (!entry?.value) throw dataInvalid(where, `has no "${META_KEY}" metadata, so which table columns feed it is unknown`, "Score models exported by the sluice trainers (train-*), or add the metadata.");
  return JSON.parse(entry.value) as ModelMeta;
}

/** The metadata a trainer stores for a fitted feature spec. */
export function metaOf(spec: FeatureSpec, trainer: string): ModelMeta {
  return { task: spec.task, label: spec.label, numeric: spec.numeric, categorical: spec.categorical, classes: spec.classes, trainer };
}

/**
 * Puts the graph of `pre` (raw inputs → `features`) in front of `model` (whose single input is
 * renamed to `features`): one graph from raw columns to predictions.
 */
export function prependGraph(pre: Uint8Array, model: Uint8Array): Uint8Array {
  const p = decode(pre, "preprocessing model");
  const m = decode(model, "model");
  const pg = p.graph!;
  const mg = m.graph!;
  const input = mg.input?.[0]?.name;
  for (const n of mg.node ?? []) n.input = (n.input ?? []).map((x) => (x === input ? "features" : x));
  for (const n of pg.node ?? []) n.name = `pre_${n.name}`;
  mg.node = [...(pg.node ?? []), ...(mg.node ?? [])];
  mg.input = pg.input ?? [];
  mg.initializer = [...(pg.initializer ?? []), ...(mg.initializer ?? [])];
  m.metadataProps = [...m.metadataProps, ...p.metadataProps];
  return onnx.ModelProto.encode(m).finish();
}

function tensorSignature(v: onnxProto.onnx.IValueInfoProto): TensorSignature {
  const t = v.type?.tensorType;
  const dims = t?.shape?.dim ?? [];
  return {
    name: v.name ?? "",
    type: t ? (ELEM_TYPES[t.elemType ?? 0] ?? `type ${t.elemType}`) : "non-tensor",
    shape: dims.map((d) => (d.dimValue !== undefined && d.dimValue !== null && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : null)),
  };
}

/** Input and output names, element types and shapes of an ONNX model (initializers are not inputs). */
export function signatureOf(bytes: Uint8Array, where: string): ModelSignature {
  const g = decode(bytes, where).graph!;
  const inits = new Set((g.initializer ?? []).map((i) => i.name));
  return { inputs: (g.input ?? []).filter((i) => !inits.has(i.name ?? "")).map(tensorSignature), outputs: (g.output ?? []).map(tensorSignature) };
}

/** Predictions of one scored batch. */
export interface Scores {
  /** Class index per row (classification). */
  readonly labels?: Int32Array;
  /** `rows × classes` probabilities (classification). */
  readonly probabilities?: Float32Array;
  /** One value per row (regression). */
  readonly values?: Float32Array;
}

/** A tensor as plain data (what crosses a thread boundary). */
export interface PlainTensor {
  readonly type: string;
  readonly data: Float32Array | BigInt64Array | string[];
  readonly dims: readonly number[];
}

/** The ONNX inputs for a table's rows as plain tensors (missing columns throw naming them). */
export function plainFeeds(t: Table, meta: ModelMeta, where: string): Record<string, PlainTensor> {
  const inputs = modelInputs(t, meta, where);
  const feeds: Record<string, PlainTensor> = { input: { type: "float32", data: Float32Array.from(inputs.numeric.data), dims: [t.numRows, meta.numeric.length] } };
  if (inputs.categorical) {
    const k = inputs.categorical.length;
    const flat = new Array<string>(t.numRows * k);
    inputs.categorical.forEach((col, j) => col.forEach((v, i) => (flat[i * k + j] = v)));
    feeds["categorical"] = { type: "string", data: flat, dims: [t.numRows, k] };
  }
  return feeds;
}

/** Rows `[start, end)` of plain feeds. */
export function sliceFeeds(feeds: Record<string, PlainTensor>, start: number, end: number): Record<string, PlainTensor> {
  return Object.fromEntries(Object.entries(feeds).map(([k, t]) => {
    const width = t.dims.slice(1).reduce((a, d) => a * d, 1);
    return [k, { type: t.type, data: t.data.slice(start * width, end * width), dims: [end - start, ...t.dims.slice(1)] }];
  }));
}

/** Runs a session on plain feeds and returns its outputs as plain tensors. */
export async function runPlain(session: ort.InferenceSession, feeds: Record<string, PlainTensor>): Promise<Record<string, PlainTensor>> {
  const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor(t.type as "float32", t.data as Float32Array, [...t.dims])])));
  return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, { type: t.type, data: t.data as Float32Array, dims: t.dims }]));
}

/** Reads a model's outputs by task. */
export function readScores(out: Record<string, PlainTensor>, meta: ModelMeta): Scores {
  if (meta.task === "regression") return { values: Float32Array.from(out["variable"]!.data as Float32Array) };
  return {
    labels: Int32Array.from(out["label"]!.data as BigInt64Array, Number),
    probabilities: Float32Array.from(out["probabilities"]!.data as Float32Array),
  };
}

/** Scores a whole table with one session (intraOpNumThreads 1). */
export async function scoreTable(model: Uint8Array, t: Table, meta: ModelMeta, where: string): Promise<Scores> {
  const feeds = plainFeeds(t, meta, where);
  const session = await createSession(model);
  try {
    return readScores(await runPlain(session, feeds), meta);
  } finally {
    await session.release();
  }
}
