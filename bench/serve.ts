// g. `sluice serve`: trigger requests/s against a tiny, fully cached pipeline (each request
// authenticates, starts a real run in process, records it and audits it), next to a bare fastify
// route returning a constant in the same process (the floor), measured with autocannon in
// alternating rounds.
import { createRequire } from "node:module";
import Fastify from "fastify";
import { loadConfig, Workspace } from "../src/index.ts";
import { silentLogger } from "../src/log.ts";
import { createServer, hashToken, newToken } from "../src/server/index.ts";
import type { BenchWorkspace } from "./lib/bench-workspace.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median } from "./lib/stats.ts";

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Cannon;

const TINY = `import { definePipeline, defineStep, port } from "sluice";
export const one = defineStep({ name: "one", outputs: { n: port.json<number>() }, run: () => ({ n: 1 }) });
export const two = defineStep({ name: "two", inputs: { n: port.json<number>() }, outputs: { n: port.json<number>() }, run: ({ inputs }) => ({ n: inputs.n + 1 }) });
export default definePipeline({
  name: "tiny",
  build(p) {
    const a = p.step("one", one);
    p.step("two", two, { inputs: { n: a.outputs.n } });
  },
});
`;

/** Options of the serve bench. */
export interface ServeBenchOptions {
  /** Seconds per autocannon round. */
  readonly durationS: number;
  /** Rounds of each (alternating trigger, floor). */
  readonly rounds: number;
  readonly connections: number;
}

/** Trigger throughput of the service vs a bare fastify route, same process, same run. */
export async function serveBench(bw: BenchWorkspace, o: ServeBenchOptions, log: (s: string) => void): Promise<Row[]> {
  const fs = await import("node:fs");
  const path = await import("node:path");
  fs.mkdirSync(path.join(bw.root, "pipelines"), { recursive: true });
  fs.writeFileSync(path.join(bw.root, "pipelines", "tiny.ts"), TINY);
  const ws = await Workspace.open(await loadConfig({ root: bw.root, flags: { cacheDir: bw.freshCacheDir("serve") }, env: {} }));
  const server = await createServer({ workspace: ws, log: silentLogger() });
  const token = newToken();
  await server.service.createToken({ name: "bench", role: "operator", hash: hashToken(token), createdAt: Date.now() });
  const url = await server.app.listen({ port: 0, host: "127.0.0.1" });
  const floor = Fastify({ logger: false });
  floor.post("/const", async () => ({ runId: "r000000000-00000000", reused: false }));
  const floorUrl = await floor.listen({ port: 0, host: "127.0.0.1" });
  const request = { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ params: {} }) };
  try {
    // Warm-up: the first run computes both steps; every later one is fully cached.
    await server.runs.start("tiny", {}, { trigger: "api", actor: "bench" }).then((r) => r.done);
    // Where the time goes: the same cached run started in process, one after the other (no HTTP).
    const SEQUENTIAL = 200;
    const t0 = performance.now();
    for (let i = 0; i < SEQUENTIAL; i++) await server.runs.start("tiny", {}, { trigger: "api", actor: "bench" }).then((r) => r.done);
    const runMs = (performance.now() - t0) / SEQUENTIAL;
    const trig: CannonResult[] = [];
    const bare: CannonResult[] = [];
    for (let i = 0; i < o.rounds; i++) {
      trig.push(await autocannon({ url: `${url}/api/v1/pipelines/tiny/runs`, connections: o.connections, duration: o.durationS, workers: 1, ...request }));
      await server.runs.settled();
      bare.push(await autocannon({ url: `${floorUrl}/const`, connections: o.connections, duration: o.durationS, workers: 1, ...request }));
    }
    const bad = trig.reduce((n, r) => n + r.non2xx + r.errors, 0);
    const rps = median(trig.map((r) => r.requests.average));
    const floorRps = median(bare.map((r) => r.requests.average));
    const p99 = median(trig.map((r) => r.latency.p99));
    const floorP99 = median(bare.map((r) => r.latency.p99));
    const runs = await ws.runs.listRuns({ pipeline: "tiny", limit: 1 });
    log(`  trigger: ${trig.map((r) => fmt(r.requests.average, 0)).join(", ")} req/s (p99 ${trig.map((r) => r.latency.p99).join(", ")} ms); ${bad} non-2xx or errors; newest run ${runs[0]?.status}`);
    log(`  floor:   ${bare.map((r) => fmt(r.requests.average, 0)).join(", ")} req/s (p99 ${bare.map((r) => r.latency.p99).join(", ")} ms)`);
    const section = "g. serve";
    return [
      { section, name: `POST /pipelines/tiny/runs (cached 2-step run started, recorded, audited), ${o.connections} connections`, measured: `${fmt(rps, 0)} req/s`, floor: `${fmt(floorRps, 0)} req/s (bare fastify constant)`, ratio: `${fmt((100 * rps) / floorRps, 1)}%`, target: "", met: null },
      { section, name: "trigger p99 latency", measured: `${fmt(p99, 0)} ms`, floor: `${fmt(floorP99, 0)} ms`, ratio: `${fmt(p99 / Math.max(floorP99, 1), 1)}×`, target: "", met: null },
      { section, name: `one cached tiny run in process, no HTTP (mean of ${SEQUENTIAL} one after the other)`, measured: `${fmt(runMs, 2)} ms/run`, floor: "", ratio: `≈ ${fmt(1000 / runMs, 0)} runs/s on one core`, target: "", met: null },
      { section, name: "trigger answers that were not 202", measured: String(bad), floor: "", ratio: "", target: "0", met: bad === 0 },
    ];
  } finally {
    await floor.close();
    await server.close();
    await ws.close();
  }
}
