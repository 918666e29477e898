import fs from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { RemoteWorker } from "../../src/executors/remote/index.ts";
import { openCacheDb } from "../../src/store/cache-db.ts";
import { LocalCas } from "../../src/store/local-cas.ts";
import { canonicalJson } from "../../src/util/canonical-json.ts";
import { dropPrefix, SHARED_REDIS, uniquePrefix } from "../helpers/remote.ts";

// `where` says which thread ran it; an item named "hold" busy-loops (holds its thread) for 200 ms.
const FILES: Record<string, string> = {
  "steps/where.ts": `import { isMainThread } from "node:worker_threads";
import { defineStep, port, Type } from "sluice";

export const items = defineStep({
  name: "items",
  outputs: { list: port.json<string[]>() },
  params: Type.Object({ items: Type.Array(Type.String()) }),
  run: ({ params }) => ({ list: params.items }),
});

export const where = defineStep({
  name: "where",
  executor: "remote",
  inputs: { item: port.json<string>() },
  outputs: { main: port.json<boolean>() },
  run({ inputs, log }) {
    if (inputs.item === "hold") for (const end = Date.now() + 200; Date.now() < end;);
    log("info", "ran", { item: inputs.item, main: isMainThread });
    return { main: isMainThread };
  },
});
`,
  "pipelines/quick.ts": `import { definePipeline, Type } from "sluice";
import { items as list, where } from "../steps/where.ts";

export default definePipeline({
  name: "quick",
  params: Type.Object({ items: Type.Array(Type.String()) }),
  build(p, { items }) {
    const l = p.step("items", list, { params: { items } });
    p.map("where", where, { over: l.outputs.list, as: "item" });
  },
});
`,
};

let tws: TestWorkspace;
let prefix: string;
let ws: Workspace;
let worker: RemoteWorker;

beforeEach(async () => {
  tws = createTestWorkspace(FILES);
  prefix = uniquePrefix();
  const config = await loadConfig({ root: tws.root, env: { SLUICE_REDIS_URL: SHARED_REDIS, SLUICE_REDIS_PREFIX: prefix } });
  ws = await Workspace.open(config, { logger: pino({ level: "silent" }) });
  // One job at a time, so the jobs run in the order the map released them.
  worker = new RemoteWorker({
    root: tws.root, cacheDir: config.cacheDir, redisUrl: SHARED_REDIS, prefix, queue: "default", concurrency: 1,
    logger: pino({ level: "silent" }),
    inlineQuickSteps: { runs: 2, underMs: 150, heldMs: 100 },
  });
  await worker.start();
});

afterEach(async () => {
  await worker.close(true);
  await ws.close();
  await dropPrefix(SHARED_REDIS, prefix);
  tws.remove();
});

describe("quick remote steps on a sluice worker", () => {
  it("runs a step on the worker's event loop once it proved quick on the pool, and sends it back to the pool for good after a run that held the loop", async () => {
    const items = ["a", "b", "c", "hold", "d", "e"];
    const info = await ws.load("quick");
    const r = await ws.run(info, { params: { items }, concurrency: 1 });
    expect(r.status, r.error?.message).toBe("succeeded");
    const ran = new Map<string, boolean>();
    for (const l of await ws.runs.listLogs(r.runId)) if (l.msg === "ran") ran.set(String((l.data as { item: string }).item), (l.data as { main: boolean }).main);
    // Two quick runs on pool threads; then the event loop until "hold" held it 200 ms; then the pool again.
    expect(items.map((i) => [i, ran.get(i)])).toEqual([["a", false], ["b", false], ["c", true], ["hold", true], ["d", false], ["e", false]]);
    expect(worker.counts).toEqual({ succeeded: 6, failed: 0 });
  });
});

describe("small inputs carried by the job", () => {
  it("lets a step on the worker's event loop read its input from the job, not from the cache", async () => {
    // A second worker with a cache folder of its own: it holds only the elements of the first two
    // (pool) runs, so the later ones can only have come with their jobs.
    await worker.close(true);
    const ownCache = path.join(tws.root, "worker-cache");
    fs.mkdirSync(ownCache);
    const db = openCacheDb(ownCache);
    const seed = new LocalCas({ dir: ownCache, db });
    for (const item of ["a", "b"]) seed.putBytes(Buffer.from(canonicalJson(item), "utf8"));
    db.close();
    worker = new RemoteWorker({
      root: tws.root, cacheDir: ownCache, redisUrl: SHARED_REDIS, prefix, queue: "default", concurrency: 1,
      logger: pino({ level: "silent" }),
      inlineQuickSteps: { runs: 2, underMs: 150, heldMs: 100 },
    });
    await worker.start();
    const r = await ws.run(await ws.load("quick"), { params: { items: ["a", "b", "c", "d"] }, concurrency: 1 });
    expect(r.status, r.error?.message).toBe("succeeded");
    const ran = (await ws.runs.listLogs(r.runId)).filter((l) => l.msg === "ran").map((l) => [(l.data as { item: string }).item, (l.data as { main: boolean }).main]);
    expect(ran).toEqual([["a", false], ["b", false], ["c", true], ["d", true]]);
  });
});
