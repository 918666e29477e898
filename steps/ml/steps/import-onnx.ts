import fs from "node:fs";
import { defineStep, port, SluiceError, Type } from "sluice";
import { signatureOf, type ModelSignature, type TensorSignature } from "./onnx-io.ts";

const Tensor = Type.Object({
  name: Type.String({ minLength: 1 }),
  /** Element type: float32, float64, int64, int32, string, bool, … */
  type: Type.String({ minLength: 1 }),
  /** Dimensions; null = any size (e.g. the batch). */
  shape: Type.Array(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
});

const show = (t: Pick<TensorSignature, "type" | "shape">): string => `${t.type} [${t.shape.map((d) => (d === null ? "N" : d)).join(", ")}]`;

/** Every way `actual` differs from `expected`, as phrases naming the input or output. */
export function signatureProblems(expected: ModelSignature, actual: ModelSignature): string[] {
  const problems: string[] = [];
  for (const side of ["inputs", "outputs"] as const) {
    const what = side.slice(0, -1);
    const have = new Map(actual[side].map((t) => [t.name, t]));
    for (const e of expected[side]) {
      const a = have.get(e.name);
      if (!a) {
        problems.push(`${what} "${e.name}": expected ${show(e)}, but the model has no such ${what} (its ${side}: ${actual[side].map((t) => `"${t.name}"`).join(", ") || "none"})`);
        continue;
      }
      const rank = e.shape.length === a.shape.length;
      const dims = rank && e.shape.every((d, i) => d === null || a.shape[i] === null || d === a.shape[i]);
      if (a.type !== e.type || !dims) problems.push(`${what} "${e.name}": expected ${show(e)}, got ${show(a)}`);
    }
    if (side === "inputs") {
      const declared = new Set(expected.inputs.map((t) => t.name));
      for (const a of actual.inputs) if (!declared.has(a.name)) problems.push(`input "${a.name}" (${show(a)}) is required by the model but not in the declared signature`);
    }
  }
  return problems;
}

/**
 * Registers a model trained elsewhere: its ONNX inputs and outputs must match the declared
 * signature (names, element types and shapes), else a clear error naming each mismatch.
 * Registry state changes, so it is never cached.
 */
export const importOnnx = defineStep({
  name: "import-onnx",
  description: "Register an externally trained ONNX model after checking its signature",
  cache: false,
  inputs: { model: port.file() },
  outputs: { version: port.json<{ name: string; version: number; digest: string; stage: string }>() },
  params: Type.Object({
    name: Type.String({ minLength: 1 }),
    signature: Type.Object({ inputs: Type.Array(Tensor, { minItems: 1 }), outputs: Type.Array(Tensor, { minItems: 1 }) }),
    metrics: Type.Record(Type.String(), Type.Number(), { default: {} }),
    tags: Type.Record(Type.String(), Type.String(), { default: {} }),
    promote: Type.Boolean({ default: false }),
  }),
  async run({ inputs, params, models, log }) {
    const where = `import-onnx › ${inputs.model}`;
    const actual = signatureOf(fs.readFileSync(inputs.model), where);
    const expected = params.signature as ModelSignature;
    const problems = signatureProblems(expected, actual);
    if (problems.length > 0) {
      throw new SluiceError("SLUICE_DATA_INVALID", `${where}: the model does not match the declared signature:\n  - ${problems.join("\n  - ")}\nFix the signature param, or export the model with these names, types and shapes.`, { path: inputs.model, problems });
    }
    let v = await models.register({ name: params.name, input: "model", metrics: params.metrics, signature: actual, tags: { ...params.tags, source: "import" } });
    if (params.promote) v = await models.promote(params.name, v.version);
    log("info", "imported", { name: v.name, version: v.version });
    return { version: { name: v.name, version: v.version, digest: v.digest, stage: v.stage } };
  },
});
