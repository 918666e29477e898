import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { pruneCache } from "../../../src/workspace/index.ts";

const FILES = {
  "steps/s.ts": `import fs from "node:fs";
import path from "node:path";
import { defineStep, port, Type } from "sluice";
export const tree = defineStep({
  name: "tree",
  outputs: { dir: port.dir() },
  run({ outDir }) {
    fs.mkdirSync(path.join(outDir, "t"));
    fs.writeFileSync(path.join(outDir, "t", "big.txt"), "x".repeat(50_000));
    return { dir: { path: path.join(outDir, "t") } };
  },
});
export const readTree = defineStep({
  name: "read-tree",
  cache: false,
  inputs: { dir: port.dir() },
  outputs: { size: port.json<number>() },
  run: ({ inputs }) => ({ size: fs.readFileSync(path.join(inputs.dir, "big.txt")).length }),
});
export const echo = defineStep({
  name: "echo",
  outputs: { n: port.json<number>() },
  params: Type.Object({ n: Type.Integer() }),
  run: ({ params }) => ({ n: params.n }),
});
`,
  "pipelines/p.ts": `import { definePipeline, Type } from "sluice";
import { echo } from "../steps/s.ts";
export default definePipeline({ name: "p", params: Type.Object({ n: Type.Integer({ default: 1 }) }), build(p, { n }) { p.step("echo", echo, { params: { n } }); } });
`,
  "pipelines/q.ts": `import { definePipeline } from "sluice";
import { readTree, tree } from "../steps/s.ts";
export default definePipeline({ name: "q", build(p) { const t = p.step("tree", tree); p.step("read", readTree, { inputs: { dir: t.outputs.dir } }); } });
`,
};

let tw: TestWorkspace;
let ws: Workspace | undefined;
afterEach(async () => {
  await ws?.close();
  tw.remove();
});

describe("cache prune", () => {
  it("reports first, then removes only what no recent run uses, and keeps the newest runs fully cached", async () => {
    tw = createTestWorkspace(FILES);
    ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }));
    const info = await ws.load("p");
    for (const n of [1, 2, 3]) expect((await ws.run(info, { params: { n } })).status).toBe("succeeded");
    expect(ws.actionCache.count()).toBe(3);

    const dry = await pruneCache(ws, { olderThanMs: 0, keepRuns: 1, apply: false });
    expect(dry).toMatchObject({ applied: false, entries: { total: 3, removed: 2, kept: 1 }, keptRuns: 1 });
    expect(ws.actionCache.count()).toBe(3);

    const done = await pruneCache(ws, { olderThanMs: 0, keepRuns: 1, apply: true });
    expect(done.entries.removed).toBe(2);
    expect(done.objects.removed).toBeGreaterThanOrEqual(2);
    expect(ws.actionCache.count()).toBe(1);
    const newest = await ws.run(info, { params: { n: 3 } });
    expect(newest.steps[0]!.status).toBe("cached");
    const older = await ws.run(info, { params: { n: 1 } });
    expect(older.steps[0]!.status).toBe("succeeded");
  });

  it("keeps entries younger than --older-than whatever the run count", async () => {
    tw = createTestWorkspace(FILES);
    ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }));
    const info = await ws.load("p");
    for (const n of [1, 2]) await ws.run(info, { params: { n } });
    const r = await pruneCache(ws, { olderThanMs: 86_400_000, keepRuns: 0, apply: true });
    expect(r.entries.removed).toBe(0);
    expect(ws.actionCache.count()).toBe(2);
  });

  it("keeps the files of a folder output that a kept run used", async () => {
    tw = createTestWorkspace(FILES);
    ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }));
    const info = await ws.load("q");
    expect((await ws.run(info)).status).toBe("succeeded");
    const r = await pruneCache(ws, { olderThanMs: 0, keepRuns: 1, apply: true });
    expect(r.objects.removed).toBe(0);
    const again = await ws.run(info);
    expect(again.steps.map((s) => s.status)).toEqual(["cached", "succeeded"]);
    expect(ws.cas.getBytes(again.outputs.get("read")!.size as never)!.toString()).toBe("50000");
  });
});
