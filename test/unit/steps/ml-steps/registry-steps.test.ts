import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildModel, ElemType } from "../../../../steps/ml/onnx/model.ts";
import { compareChampion, deploy, evaluate, fitPreprocess, importOnnx, pickBest, registerModel, split, trainLogistic } from "../../../../steps/ml/steps/index.ts";
import { cleanUp, fakeRegistry, readData, runStep, tempDir } from "./harness.ts";

afterAll(cleanUp);

const evaluation = (metrics: Record<string, number>, trainer = "logistic") => ({ task: "classification", trainer, rows: 10, metrics });

/** An ONNX file: input "x" float [N, 4] → Identity → output "y". */
function identityModel(): string {
  const p = path.join(tempDir(), "external.onnx");
  fs.writeFileSync(p, buildModel({
    name: "external",
    nodes: [{ op: "Identity", inputs: ["x"], outputs: ["y"] }],
    inputs: [{ name: "x", elemType: ElemType.FLOAT, shape: [null, 4] }],
    outputs: [{ name: "y", elemType: ElemType.FLOAT, shape: [null, 4] }],
  }));
  return p;
}

describe("pick-best and compare-champion", () => {
  it("picks the better candidate (higher accuracy, lower log loss) and passes its file on byte for byte", async () => {
    const a = identityModel();
    const b = path.join(tempDir(), "b.onnx");
    fs.writeFileSync(b, Buffer.from("other"));
    const high = await runStep(pickBest, { metricsA: evaluation({ accuracy: 0.9, log_loss: 0.2 }, "gbdt"), modelA: a, metricsB: evaluation({ accuracy: 0.95, log_loss: 0.3 }), modelB: b });
    expect(high.outputs.best).toMatchObject({ winner: "b", trainer: "logistic", value: 0.95 });
    expect(fs.readFileSync(high.outputs.model)).toEqual(fs.readFileSync(b));
    const low = await runStep(pickBest, { metricsA: evaluation({ accuracy: 0.9, log_loss: 0.2 }, "gbdt"), modelA: a, metricsB: evaluation({ accuracy: 0.95, log_loss: 0.3 }), modelB: b }, { metric: "log_loss" });
    expect(low.outputs.best.winner).toBe("a");
    await expect(runStep(pickBest, { metricsA: evaluation({ accuracy: 1 }), modelA: a, metricsB: evaluation({ accuracy: 1 }), modelB: b }, { metric: "r2" })).rejects.toThrow(/metric "r2" is not among the evaluation's metrics \(accuracy\)/);
  });

  it("is better with no champion, then only when it beats the champion's metric", async () => {
    const reg = fakeRegistry();
    const first = await runStep(compareChampion, { metrics: evaluation({ accuracy: 0.9 }) }, { name: "m" }, reg);
    expect(first.outputs.result).toEqual({ better: true, metric: "accuracy", candidate: 0.9, champion: null });
    await runStep(registerModel, { model: identityModel(), metrics: evaluation({ accuracy: 0.9, rmse: 3 }) }, { name: "m", promote: true }, reg);
    const worse = await runStep(compareChampion, { metrics: { evaluation: evaluation({ accuracy: 0.85 }) } }, { name: "m" }, reg);
    expect(worse.outputs.result).toMatchObject({ better: false, champion: { version: 1, value: 0.9 } });
    const lower = await runStep(compareChampion, { metrics: evaluation({ rmse: 2 }) }, { name: "m", metric: "rmse" }, reg);
    expect(lower.outputs.result.better).toBe(true);
    expect(compareChampion.cache).toBe(false);
  });
});

describe("register-model and deploy", () => {
  let onnxPath: string;
  let metrics: unknown;
  beforeAll(async () => {
    const table = await readData("iris.csv");
    const { train, test } = (await runStep(split, { table }, { label: "species" })).outputs;
    const spec = (await runStep(fitPreprocess, { train }, { label: "species", task: "classification" })).outputs.params;
    onnxPath = (await runStep(trainLogistic, { train, preprocess: spec })).outputs.onnx;
    metrics = (await runStep(evaluate, { model: onnxPath, test })).outputs.metrics;
  });

  it("registers the ONNX file with its test metrics, signature and trainer tag, and promotes it on request", async () => {
    const reg = fakeRegistry();
    const v = (await runStep(registerModel, { model: onnxPath, metrics }, { name: "iris", promote: true, tags: { team: "a" } }, reg)).outputs.version;
    expect(v).toMatchObject({ name: "iris", version: 1, stage: "champion" });
    expect(reg.versions[0]!.tags).toEqual({ team: "a", trainer: "logistic" });
    expect(reg.versions[0]!.signature).toEqual({
      inputs: [{ name: "input", type: "float32", shape: [null, 4] }],
      outputs: [{ name: "label", type: "int64", shape: [null] }, { name: "probabilities", type: "float32", shape: [null, 3] }],
    });
    const again = (await runStep(registerModel, { model: onnxPath, metrics }, { name: "iris" }, reg)).outputs.version;
    expect(again.version).toBe(1);
  });

  it("deploys a version with a traffic share next to the deployments that stay, and refuses shares that do not add up to 100", async () => {
    const reg = fakeRegistry();
    const version = { name: "iris", version: 2 };
    const alongside = [{ deployment: "stable", model: "iris", version: 1, trafficPercent: 90 }];
    const out = await runStep(deploy, { version }, { endpoint: "iris", deployment: "canary", trafficPercent: 10, alongside }, reg);
    expect(reg.deployments.get("iris")).toEqual([{ deployment: "canary", model: "iris", version: 2, trafficPercent: 10 }, ...alongside]);
    expect(out.outputs.deployments.endpoint).toBe("iris");
    await expect(runStep(deploy, { version }, { endpoint: "iris", trafficPercent: 50 }, reg)).rejects.toMatchObject({ code: "SLUICE_PARAMS_INVALID", message: expect.stringContaining("add up to 50%, not 100% (primary 50%)") });
    const shadow = await runStep(deploy, { version }, { endpoint: "iris", deployment: "shadow", trafficPercent: 100, shadow: true, alongside: [{ ...alongside[0], trafficPercent: 100 }] }, reg);
    expect(shadow.outputs.deployments.deployments).toHaveLength(2);
  });
});

describe("import-onnx", () => {
  const signature = { inputs: [{ name: "x", type: "float32", shape: [null, 4] }], outputs: [{ name: "y", type: "float32", shape: [null, 4] }] };

  it("registers a model trained elsewhere whose signature matches", async () => {
    const reg = fakeRegistry();
    const v = (await runStep(importOnnx, { model: identityModel() }, { name: "ext", signature, metrics: { auc: 0.9 } }, reg)).outputs.version;
    expect(v).toMatchObject({ name: "ext", version: 1 });
    expect(reg.versions[0]).toMatchObject({ metrics: { auc: 0.9 }, tags: { source: "import" }, signature });
  });

  it("refuses a model whose inputs and outputs differ, naming each with expected vs actual", async () => {
    const reg = fakeRegistry();
    const model = identityModel();
    const wrong = {
      inputs: [{ name: "x", type: "float64", shape: [null, 3] }],
      outputs: [{ name: "probabilities", type: "float32", shape: [null, 2] }],
    };
    const err = (await runStep(importOnnx, { model }, { name: "ext", signature: wrong }, reg).catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe("SLUICE_DATA_INVALID");
    expect(err.message).toContain(`import-onnx › ${model}: the model does not match the declared signature`);
    expect(err.message).toContain('input "x": expected float64 [N, 3], got float32 [N, 4]');
    expect(err.message).toContain('output "probabilities": expected float32 [N, 2], but the model has no such output (its outputs: "y")');
    const renamed = { inputs: [{ name: "features", type: "float32", shape: [null, 4] }], outputs: signature.outputs };
    const err2 = (await runStep(importOnnx, { model }, { name: "ext", signature: renamed }, reg).catch((e: unknown) => e)) as Error;
    expect(err2.message).toContain('input "features": expected float32 [N, 4], but the model has no such input (its inputs: "x")');
    expect(err2.message).toContain('input "x" (float32 [N, 4]) is required by the model but not in the declared signature');
    expect(reg.versions).toHaveLength(0);
  });

  it("refuses a file that is not an ONNX model", async () => {
    const p = path.join(tempDir(), "junk.onnx");
    fs.writeFileSync(p, "not a model at all");
    await expect(runStep(importOnnx, { model: p }, { name: "ext", signature }, fakeRegistry())).rejects.toThrow(/is not an ONNX model/);
  });
});
