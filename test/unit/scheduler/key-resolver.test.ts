import Database from "better-sqlite3";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { canonicalJson, sha256 } from "../../../src/util/canonical-json.ts";

// Input ports declared out of alphabetical order, wired in yet another order, and a map step
// whose element port is not wired: the keys' JSON is built from each step's sorted ports.
const STEPS = `import { defineStep, port, Type } from "sluice";

export const num = defineStep({
  name: "num",
  outputs: { n: port.json<number>() },
  params: Type.Object({ n: Type.Integer() }),
  run: ({ params }) => ({ n: params.n }),
});

export const list = defineStep({
  name: "list",
  outputs: { items: port.json<number[]>() },
  run: () => ({ items: [1, 2, 3] }),
});

export const mix = defineStep({
  name: "mix",
  inputs: { zeta: port.json<number>(), alpha: port.json<number>(), "mid-port": port.json<number>() },
  outputs: { sum: port.json<number>() },
  params: Type.Object({ w: Type.Integer({ default: 2 }), label: Type.String({ default: "a\\"b" }) }),
  run: ({ inputs, params }) => ({ sum: (inputs.zeta + inputs.alpha + inputs["mid-port"]) * params.w }),
});

export const scale = defineStep({
  name: "scale",
  inputs: { k: port.json<number>(), item: port.json<number>() },
  outputs: { v: port.json<number>() },
  run: ({ inputs }) => ({ v: inputs.k * inputs.item }),
});
`;

const PIPELINES = `import { definePipeline } from "sluice";
import * as s from "../steps/all.ts";

export default definePipeline({
  name: "keys",
  build(p) {
    const a = p.step("a", s.num, { params: { n: 1 } });
    const b = p.step("b", s.num, { params: { n: 2 } });
    const c = p.step("c", s.num, { params: { n: 3 } });
    const m = p.step("m", s.mix, { inputs: { "mid-port": b.outputs.n, zeta: c.outputs.n, alpha: a.outputs.n } });
    const l = p.step("l", s.list);
    p.map("sc", s.scale, { over: l.outputs.items, as: "item", inputs: { k: m.outputs.sum } });
    return {};
  },
});
`;

let tw: TestWorkspace;
let ws: Workspace | undefined;
afterEach(async () => {
  await ws?.close();
  ws = undefined;
  tw.remove();
});

describe("cache keys of a run", () => {
  it("hash the canonical JSON of each step's record, whatever order its ports are declared and wired in", async () => {
    tw = createTestWorkspace({ "steps/all.ts": STEPS, "pipelines/all.ts": PIPELINES });
    const config = await loadConfig({ root: tw.root, env: {} });
    ws = await Workspace.open(config);
    const r = await ws.run(await ws.load("keys"));
    expect(r.status).toBe("succeeded");
    const db = new Database(path.join(config.cacheDir, "cache.db"), { readonly: true });
    try {
      const rows = db.prepare("SELECT key, record, step_id AS stepId FROM action_cache").all() as Array<{ key: string; record: string; stepId: string }>;
      // 5 steps and 3 map elements.
      expect(rows).toHaveLength(8);
      for (const row of rows) {
        expect(row.record).toBe(canonicalJson(JSON.parse(row.record)));
        expect(row.key).toBe(sha256(row.record));
      }
      const keyOf = new Map(r.steps.map((s) => [s.id, s.cacheKey]));
      const mix = rows.find((row) => row.stepId === "m")!;
      expect(mix.key).toBe(keyOf.get("m"));
      expect(Object.keys(JSON.parse(mix.record).inputs)).toEqual(["alpha", "mid-port", "zeta"]);
      expect(JSON.parse(mix.record).params).toEqual({ label: 'a"b', w: 2 });
      const elements = rows.filter((row) => row.stepId.startsWith("sc"));
      expect(elements).toHaveLength(3);
      for (const e of elements) expect(Object.keys(JSON.parse(e.record).inputs)).toEqual(["item", "k"]);
    } finally {
      db.close();
    }
  });
});
