import fs from "node:fs";
import { defineStep, port, Type } from "sluice";
import type { Evaluation } from "./evaluate.ts";
import { signatureOf } from "./onnx-io.ts";

/** A registered version, as the step outputs it. */
export interface RegisteredVersion {
  readonly name: string;
  readonly version: number;
  readonly digest: string;
  readonly stage: string;
  readonly metrics: Readonly<Record<string, number>>;
}

/**
 * Registers an ONNX model with its test metrics and signature (input/output names, types and
 * shapes); the registry records the lineage. The same bytes again give the same version. With
 * `promote`, the version becomes the champion. Registry state changes, so it is never cached.
 */
export const registerModel = defineStep({
  name: "register-model",
  description: "Register an ONNX model version (optionally promote it to champion)",
  cache: false,
  inputs: { model: port.file(), metrics: port.json<Evaluation | { evaluation: Evaluation }>() },
  outputs: { version: port.json<RegisteredVersion>() },
  params: Type.Object({
    name: Type.String({ minLength: 1 }),
    promote: Type.Boolean({ default: false }),
    tags: Type.Record(Type.String(), Type.String(), { default: {} }),
  }),
  async run({ inputs, params, models, log }) {
    const evaluation = "evaluation" in inputs.metrics ? inputs.metrics.evaluation : inputs.metrics;
    const signature = signatureOf(fs.readFileSync(inputs.model), `register-model › input "model"`);
    const tags = { ...params.tags, ...(evaluation.trainer ? { trainer: evaluation.trainer } : {}) };
    let v = await models.register({ name: params.name, input: "model", metrics: evaluation.metrics, signature, tags });
    if (params.promote) v = await models.promote(params.name, v.version);
    log("info", "registered", { name: v.name, version: v.version, stage: v.stage });
    return { version: { name: v.name, version: v.version, digest: v.digest, stage: v.stage, metrics: { ...v.metrics } } };
  },
});
