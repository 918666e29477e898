import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";

const STEPS = `import fs from "node:fs";
import path from "node:path";
import { defineStep, port, Type } from "sluice";

export const makeModel = defineStep({
  name: "make-model",
  outputs: { model: port.file() },
  params: Type.Object({ tag: Type.String() }),
  run({ params, outDir }) {
    const f = path.join(outDir, "model.onnx");
    fs.writeFileSync(f, "fake onnx " + params.tag);
    return { model: { path: f } };
  },
});

export const registerModel = defineStep({
  name: "register-model",
  executor: "thread",
  inputs: { model: port.file() },
  outputs: { version: port.json<{ version: number; stage: string }>() },
  params: Type.Object({ accuracy: Type.Number() }),
  async run({ params, models }) {
    const v = await models.register({ name: "churn", input: "model", metrics: { accuracy: params.accuracy }, signature: { inputs: ["x"] } });
    const champion = await models.champion("churn");
    if (!champion || params.accuracy > (champion.metrics.accuracy ?? 0)) await models.promote("churn", v.version);
    await models.deploy("churn-api", [{ deployment: "blue", model: "churn", version: v.version, trafficPercent: 100 }]);
    const bytes = await models.read("churn", v.version);
    if (!new TextDecoder().decode(bytes).startsWith("fake onnx")) throw new Error("read returned other bytes");
    return { version: { version: v.version, stage: (await models.get("churn", v.version))!.stage } };
  },
});
`;

const PIPELINE = `import { definePipeline, Type } from "sluice";
import { makeModel, registerModel } from "../steps/models.ts";
export default definePipeline({
  name: "models",
  params: Type.Object({ tag: Type.String({ default: "a" }), accuracy: Type.Number({ default: 0.9 }) }),
  build(p, params) {
    const m = p.step("make", makeModel, { params: { tag: params.tag } });
    p.step("register", registerModel, { inputs: { model: m.outputs.model }, params: { accuracy: params.accuracy } });
  },
});
`;

let tw: TestWorkspace;
let ws: Workspace | undefined;
afterEach(async () => {
  await ws?.close();
  tw.remove();
});

describe("ctx.models", () => {
  it("registers versions with lineage from a thread step, promotes the better one, records the deployment, and never duplicates a version", async () => {
    tw = createTestWorkspace({ "steps/models.ts": STEPS, "pipelines/models.ts": PIPELINE });
    ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }));
    const info = await ws.load("models");
    const first = await ws.run(info);
    expect(first.status, JSON.stringify(first.error)).toBe("succeeded");
    const v1 = (await ws.models.get("churn", 1))!;
    expect(v1).toMatchObject({ version: 1, stage: "champion", metrics: { accuracy: 0.9 } });
    expect(v1.lineage).toMatchObject({ runId: first.runId, stepId: "register", pipeline: "models", params: { accuracy: 0.9 } });
    expect(v1.lineage.inputs.model).toBe(v1.digest);
    expect(v1.lineage.codeDigest).toMatch(/^sha256:/);

    const worse = await ws.run(info, { params: { tag: "b", accuracy: 0.8 } });
    expect(worse.status, JSON.stringify(worse.error)).toBe("succeeded");
    expect((await ws.models.get("churn", 2))!.stage).toBe("candidate");
    expect((await ws.models.champion("churn"))!.version).toBe(1);

    const better = await ws.run(info, { params: { tag: "c", accuracy: 0.95 } });
    expect(better.status, JSON.stringify(better.error)).toBe("succeeded");
    expect((await ws.models.champion("churn"))!.version).toBe(3);
    expect((await ws.models.get("churn", 1))!.stage).toBe("archived");
    expect(await ws.models.listDeployments("churn-api")).toMatchObject([{ deployment: "blue", model: "churn", version: 3, trafficPercent: 100 }]);

    await ws.run(info, { params: { tag: "a", accuracy: 0.9 }, force: "all" });
    expect((await ws.models.list("churn")).length).toBe(3);
    expect((await ws.models.referencedDigests()).has(v1.digest)).toBe(true);
  });
});
