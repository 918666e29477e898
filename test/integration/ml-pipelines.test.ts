import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { column, decodeTable, loadConfig, Workspace, type RunSummary } from "sluice";
import { createTestWorkspace, sluicePackageRoot, type TestWorkspace } from "sluice/testing";

const ROOT = sluicePackageRoot();

/**
 * A temp workspace holding the ML pipelines, the step library and the datasets, with the two
 * packages the ML steps import linked in (as a user project would have them installed).
 */
function mlWorkspace(): TestWorkspace {
  const ws = createTestWorkspace();
  for (const pkg of ["onnx-proto", "onnxruntime-node"]) fs.symlinkSync(path.join(ROOT, "node_modules", pkg), ws.path(`node_modules/${pkg}`), "dir");
  for (const rel of ["pipelines/breast-cancer.ts", "pipelines/iris.ts", "pipelines/diabetes.ts", "steps", "data/ml"]) {
    fs.cpSync(path.join(ROOT, rel), ws.path(rel), { recursive: true });
  }
  return ws;
}

const statuses = (s: RunSummary): Record<string, string> => Object.fromEntries(s.steps.map((x) => [x.id, x.status]));

/** A JSON output of a finished run, read from the workspace's store. */
function output<T>(ws: Workspace, s: RunSummary, step: string, port: string): T {
  const digest = s.outputs.get(step)?.[port];
  if (!digest) throw new Error(`no output ${step}.${port}`);
  return JSON.parse(ws.cas.getBytes(digest)!.toString("utf8")) as T;
}

type Metrics = { metrics: Record<string, number>; confusionMatrix?: number[][]; perClass?: Record<string, { f1: number }> };

describe("ML pipelines run through Workspace.run (thread executor, onnxruntime-node, registry)", () => {
  let dir: TestWorkspace;
  let ws: Workspace;
  beforeAll(async () => {
    dir = mlWorkspace();
    ws = await Workspace.open(await loadConfig({ root: dir.root, env: {} }));
  });
  afterAll(async () => {
    await ws?.close();
    dir?.remove();
  });

  it("breast-cancer: trains GBDT and logistic, both ≥ 0.95 test accuracy, registers the winner as champion", async () => {
    const info = await ws.load("breast-cancer");
    const run = await ws.run(info);
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    expect(Object.values(statuses(run)).every((s) => s === "succeeded")).toBe(true);
    const gbdt = output<Metrics>(ws, run, "evaluate-gbdt", "metrics");
    const logistic = output<Metrics>(ws, run, "evaluate-logistic", "metrics");
    expect(gbdt.metrics["accuracy"]).toBeGreaterThanOrEqual(0.95);
    expect(logistic.metrics["accuracy"]).toBeGreaterThanOrEqual(0.95);
    expect(logistic.metrics["roc_auc"]).toBeGreaterThanOrEqual(0.99);
    expect(gbdt.confusionMatrix!.flat().reduce((a, b) => a + b, 0)).toBe(114); // 20 % of 569 rows
    const best = output<{ trainer: string; value: number }>(ws, run, "pick-best", "best");
    expect(best.value).toBe(Math.max(gbdt.metrics["accuracy"]!, logistic.metrics["accuracy"]!));
    const champion = await ws.models.champion("breast-cancer");
    expect(champion).toMatchObject({ version: 1, stage: "champion", tags: { trainer: best.trainer } });
    expect(champion!.metrics["accuracy"]).toBe(best.value);
    expect((champion!.signature as { inputs: Array<{ name: string; shape: unknown[] }> }).inputs).toEqual([{ name: "input", type: "float32", shape: [null, 30] }]);
    const curve = (await ws.runs.listMetrics(run.runId, "train-gbdt")).filter((m) => m.name === "train_loss");
    expect(curve).toHaveLength(100);
    expect(curve.at(-1)!.value).toBeLessThan(curve[0]!.value);
  });

  it("breast-cancer: a new GBDT learning rate reruns only the GBDT training, its evaluation and the steps after them", async () => {
    const info = await ws.load("breast-cancer");
    const again = await ws.run(info);
    expect(statuses(again)).toMatchObject({ read: "cached", split: "cached", preprocess: "cached", "train-gbdt": "cached", "train-logistic": "cached", "evaluate-gbdt": "cached", "evaluate-logistic": "cached", "pick-best": "cached" });
    const run = await ws.run(info, { params: { gbdtLearningRate: 0.05 } });
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    const s = statuses(run);
    expect(s).toMatchObject({ read: "cached", split: "cached", preprocess: "cached", "train-logistic": "cached", "evaluate-logistic": "cached" });
    expect(s).toMatchObject({ "train-gbdt": "succeeded", "evaluate-gbdt": "succeeded", "pick-best": "succeeded", "compare-champion": "succeeded" });
    // The same winner again (equal accuracy does not beat the champion), or a new one registered.
    expect(["skipped", "succeeded"]).toContain(s["register"]);
    const cached = Object.entries(s).filter(([, v]) => v === "cached").map(([k]) => k).sort();
    expect(cached).toEqual(["evaluate-logistic", "preprocess", "read", "split", "train-logistic"]);
    expect(output<Metrics>(ws, run, "evaluate-gbdt", "metrics").metrics["accuracy"]).toBeGreaterThanOrEqual(0.95);
  });

  it("a ragged CSV fails the read step with an error naming the file, row and column; nothing after it runs", async () => {
    const lines = fs.readFileSync(dir.path("data/ml/breast_cancer.csv"), "utf8").split("\n");
    lines[5] = lines[5]!.split(",").slice(0, 20).join(",");
    dir.write("data/bad.csv", lines.join("\n"));
    const run = await ws.run(await ws.load("breast-cancer"), { params: { data: "data/bad.csv" } });
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "SLUICE_DATA_INVALID" });
    expect(run.error!.message).toContain(`${dir.path("data/bad.csv")}, row 6, column "worst_radius": 20 fields but the header has 31`);
    expect(statuses(run)).toMatchObject({ read: "failed", split: "skipped", register: "skipped" });
  });

  it("iris: multinomial logistic reaches ≥ 0.93 test accuracy and batch-scores the test rows", async () => {
    const run = await ws.run(await ws.load("iris"));
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    const m = output<Metrics>(ws, run, "evaluate", "metrics");
    expect(m.metrics["accuracy"]).toBeGreaterThanOrEqual(0.93);
    expect(Object.keys(m.perClass!)).toEqual(["setosa", "versicolor", "virginica"]);
    expect(m.confusionMatrix).toHaveLength(3);
    expect((await ws.models.champion("iris"))?.version).toBe(1);
    const scores = decodeTable(ws.cas.getBytes(run.outputs.get("score")!["scores"]!)!, "scores");
    const predicted = column(scores, "prediction").values as string[];
    const truth = column(scores, "species").values as string[];
    expect(predicted.filter((p, i) => p === truth[i]).length / predicted.length).toBe(m.metrics["accuracy"]);
    const scored = (await ws.runs.listLogs(run.runId, "score")).find((l) => l.msg === "scored");
    expect(scored?.data).toEqual({ rows: 30, chunks: 4, threads: 2 });
  });

  it("diabetes: ridge reaches R² ≥ 0.40 through onnxruntime-node, then is registered and deployed", async () => {
    const run = await ws.run(await ws.load("diabetes"));
    expect(run.status, JSON.stringify(run.error)).toBe("succeeded");
    const m = output<Metrics>(ws, run, "evaluate", "metrics");
    expect(m.metrics["r2"]).toBeGreaterThanOrEqual(0.4);
    expect(m.metrics["rmse"]).toBeGreaterThan(0);
    const deployed = await ws.models.listDeployments("diabetes");
    expect(deployed).toHaveLength(1);
    expect(deployed[0]).toMatchObject({ model: "diabetes", version: 1, trafficPercent: 100 });
  });
});
