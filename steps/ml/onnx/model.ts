import onnxProto from "onnx-proto";
import ort from "onnxruntime-node";

const { onnx } = onnxProto;

/** The ONNX protobuf namespace (types and builders). */
export { onnx };

/** ONNX tensor element types used here. */
export const ElemType = { FLOAT: 1, INT64: 7, STRING: 8, DOUBLE: 11 } as const;

/** An ONNX attribute value, by kind. */
export type AttrValue = number | string | number[] | string[] | { floats: number[] } | { ints: number[] } | { tensor: onnxProto.onnx.ITensorProto };

/** A graph input or output: name, element type and shape (`null` = symbolic dimension, e.g. batch). */
export interface ValueInfo {
  readonly name: string;
  readonly elemType: number;
  readonly shape: ReadonlyArray<number | null>;
}

/** A node of the graph. */
export interface NodeSpec {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly domain?: string;
  readonly attrs?: Readonly<Record<string, AttrValue>>;
  readonly name?: string;
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === "number") return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  if (typeof v === "string") return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === "string")) return { name, type: T.STRINGS, strings: (v as string[]).map((s) => new TextEncoder().encode(s)) };
    return v.every((x) => Number.isInteger(x)) ? { name, type: T.INTS, ints: v as number[] } : { name, type: T.FLOATS, floats: v as number[] };
  }
  if ("floats" in v) return { name, type: T.FLOATS, floats: v.floats };
  if ("ints" in v) return { name, type: T.INTS, ints: v.ints };
  return { name, type: T.TENSOR, t: v.tensor };
}

function valueInfo(v: ValueInfo): onnxProto.onnx.IValueInfoProto {
  return { name: v.name, type: { tensorType: { elemType: v.elemType, shape: { dim: v.shape.map((d) => (d === null ? { dimParam: "N" } : { dimValue: d })) } } } };
}

/** A float32 initializer tensor. */
export function floatTensor(name: string, dims: readonly number[], values: ArrayLike<number>): onnxProto.onnx.ITensorProto {
  return { name, dataType: ElemType.FLOAT, dims: [...dims], floatData: Array.from(values) };
}

/** An int64 initializer tensor. */
export function int64Tensor(name: string, dims: readonly number[], values: ArrayLike<number>): onnxProto.onnx.ITensorProto {
  return { name, dataType: ElemType.INT64, dims: [...dims], int64Data: Array.from(values) };
}

/**
 * Serialises one ONNX model (opset 17 plus ai.onnx.ml 3). Steps build every exported model
 * through this, so all share the same IR and opset versions.
 */
export function buildModel(spec: {
  readonly name: string;
  readonly nodes: readonly NodeSpec[];
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly initializers?: readonly onnxProto.onnx.ITensorProto[];
  readonly metadata?: Readonly<Record<string, string>>;
}): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "sluice",
    opsetImport: [{ domain: "", version: 17 }, { domain: "ai.onnx.ml", version: 3 }],
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: spec.name,
      node: spec.nodes.map((n, i) => ({ name: n.name ?? `${n.op.toLowerCase()}_${i}`, opType: n.op, domain: n.domain ?? "", input: [...n.inputs], output: [...n.outputs], attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)) })),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer: [...(spec.initializers ?? [])],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** An onnxruntime-node session with one intra-op thread (deterministic and best p99 here). */
export function createSession(model: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
}

/** Runs a model on a float32 matrix input named `name` (rows × cols) and returns every output. */
export async function runFloat(session: ort.InferenceSession, name: string, data: Float32Array, rows: number, cols: number): Promise<Record<string, ort.Tensor>> {
  return session.run({ [name]: new ort.Tensor("float32", data, [rows, cols]) });
}

export { ort };
