import { createRequire } from "node:module";
import Fastify, { type FastifyInstance } from "fastify";
import { Registry } from "prom-client";
import { loadConfig, Workspace } from "../src/index.ts";
import { silentLogger } from "../src/log.ts";
import { createServer, hashToken, newToken, type RouteGroup, type ServerContext } from "../src/server/index.ts";
import { endpointRoutes } from "../src/server/routes/endpoints.ts";
import { createTestWorkspace } from "../src/testing/index.ts";
import { trainLogistic } from "../steps/ml/logistic.ts";
import { createMatrix } from "../steps/ml/matrix.ts";
import { exportLogistic } from "../steps/ml/onnx/export-linear.ts";
import { Pipeline } from "../steps/ml/preprocess.ts";
import { createRng } from "../steps/ml/rng.ts";
import { withModelMeta } from "../steps/ml/steps/onnx-io.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median } from "./lib/stats.ts";

/** What autocannon reports that the bench reads. */
interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Cannon;

const COLUMNS = ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"];

/** A logistic regression on a generated 3-class set of 8 features, with scaling, as ONNX with the sluice column metadata. */
function model(): Uint8Array {
  const rng = createRng(5);
  const n = 2000;
  const X = createMatrix(n, COLUMNS.length, Float64Array.from({ length: n * COLUMNS.length }, () => rng.normal() * 3 + 1));
  const y = Array.from({ length: n }, (_, i) => (X.data[i * 8]! + X.data[i * 8 + 1]! > 2 ? 2 : X.data[i * 8 + 2]! > 1 ? 1 : 0));
  const pipeline = Pipeline.fit({ numeric: X });
  const m = trainLogistic(Pipeline.transform(pipeline, { numeric: X }), y, { l2: 0.1 });
  return withModelMeta(exportLogistic(m.params, pipeline), { task: "classification", label: "y", numeric: COLUMNS, categorical: [], classes: ["a", "b", "c"], trainer: "logistic" });
}

async function cannon(url: string, connections: number, durationS: number, extra: Record<string, unknown>): Promise<CannonResult> {
  // One worker thread fires the requests, so the load generator does not share the server's event loop.
  return autocannon({ url, connections, duration: durationS, workers: 1, ...extra });
}

/** What the endpoint routes need from a server, with no token check (to show what access control costs). */
function bareContext(ws: Workspace): ServerContext {
  return {
    workspace: ws,
    log: silentLogger(),
    clock: Date.now,
    requireRole: () => async () => undefined,
    actorOf: () => ({ name: "bench", role: "admin" }),
    audit: async () => undefined,
    metrics: new Registry(),
  };
}

/**
 * Section m: the score endpoint against a bare fastify route, both in this process, driven by
 * autocannon (50 connections, one worker thread) one after the other, in short alternating
 * slices: on a shared machine, load from other processes comes in bursts, and many short slices
 * with medians are steadier than one long run per target.
 */
export async function endpointsBench(opts: { connections: number; durationS: number; rounds: number }, log: (s: string) => void): Promise<Row[]> {
  const tw = createTestWorkspace();
  const ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }));
  const apps: FastifyInstance[] = [];
  try {
    const digest = ws.cas.putBytes(model());
    await ws.models.register({ name: "bench", digest, metrics: {}, signature: null, lineage: { runId: "bench", stepId: "bench", pipeline: "bench", inputs: {}, params: {}, codeDigest: null }, createdAt: Date.now() });
    await ws.models.setDeployments("bench", [{ deployment: "primary", model: "bench", version: 1, trafficPercent: 100 }], Date.now());
    const rng = createRng(9);
    const body = JSON.stringify({ rows: [Object.fromEntries(COLUMNS.map((c) => [c, Number(rng.normal().toFixed(3))]))] });

    const bare = Fastify({ ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } } });
    bare.post("/bare", async () => ({ ok: true }));
    apps.push(bare);
    const bareUrl = `${await bare.listen({ port: 0, host: "127.0.0.1" })}/bare`;

    // The same server also answers a constant behind the same token check, to tell the server's per-request cost from the endpoint's.
    const constantRoute: RouteGroup = async (app, ctx) => {
      app.post("/bench-constant", { onRequest: ctx.requireRole("operator") }, async () => ({ ok: true }));
    };
    const server = await createServer({ workspace: ws, log: silentLogger(), routeGroups: [endpointRoutes({ serviceOptions: { refreshMs: 0 } }), constantRoute] });
    apps.push(server.app);
    const token = newToken();
    await server.service.createToken({ name: "bench", role: "operator", hash: hashToken(token), createdAt: Date.now() });
    const serverBase = await server.app.listen({ port: 0, host: "127.0.0.1" });
    const scoreUrl = `${serverBase}/api/v1/endpoints/bench/score`;

    const noAuth = Fastify({ ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } } });
    await noAuth.register(async (api) => endpointRoutes({ serviceOptions: { refreshMs: 0 } })(api, bareContext(ws)), { prefix: "/api/v1" });
    apps.push(noAuth);
    const noAuthUrl = `${await noAuth.listen({ port: 0, host: "127.0.0.1" })}/api/v1/endpoints/bench/score`;

    const post = (headers: Record<string, string> = {}) => ({ method: "POST", body, headers: { "content-type": "application/json", ...headers } });
    const targets = [
      { name: "bare", url: bareUrl, extra: post() },
      { name: "score", url: scoreUrl, extra: post({ authorization: `Bearer ${token}` }) },
      { name: "score, no token check", url: noAuthUrl, extra: post() },
      { name: "constant, createServer", url: `${serverBase}/api/v1/bench-constant`, extra: post({ authorization: `Bearer ${token}` }) },
    ];
    const probe = await fetch(scoreUrl, { method: "POST", body, headers: { "content-type": "application/json", authorization: `Bearer ${token}` } });
    log(`  probe: ${probe.status} ${(await probe.text()).slice(0, 160)}`);
    for (const t of targets) await cannon(t.url, opts.connections, 1, t.extra); // warm-up
    const results = new Map<string, CannonResult[]>(targets.map((t) => [t.name, []]));
    for (let round = 0; round < opts.rounds; round++) {
      for (const t of targets) {
        const r = await cannon(t.url, opts.connections, opts.durationS, t.extra);
        results.get(t.name)!.push(r);
        log(`  round ${round + 1} ${t.name.padEnd(23)} ${fmt(r.requests.average, 0).padStart(7)} req/s  p50 ${fmt(r.latency.p50, 1)} ms  p99 ${fmt(r.latency.p99, 1)} ms  non-2xx ${r.non2xx}  errors ${r.errors + r.timeouts}`);
      }
    }
    const rps = (name: string): number => median(results.get(name)!.map((r) => r.requests.average));
    const p99 = (name: string): number => median(results.get(name)!.map((r) => r.latency.p99));
    const failed = (name: string): number => results.get(name)!.reduce((a, r) => a + r.non2xx + r.errors + r.timeouts, 0);
    const section = "m. model endpoints";
    const load = `${opts.connections} connections, ${opts.rounds} slices of ${opts.durationS} s, 1 row/request`;
    const bareRps = rps("bare");
    const rows: Row[] = [
      { section, name: `POST …/score (createServer: bearer token, audit hook, metrics), ${load}`, measured: `${fmt(rps("score"), 0)} req/s`, floor: `bare fastify POST ${fmt(bareRps, 0)} req/s`, ratio: `${fmt((100 * rps("score")) / bareRps, 0)}%`, target: "≥ 60%", met: rps("score") >= 0.6 * bareRps && failed("score") === 0 },
      { section, name: "POST …/score p99 latency", measured: `${fmt(p99("score"), 1)} ms`, floor: `bare fastify ${fmt(p99("bare"), 1)} ms`, ratio: `+${fmt(p99("score") - p99("bare"), 1)} ms`, target: "< 10 ms", met: p99("score") < 10 },
      { section, name: "the same server answering a constant behind the same token check (what createServer costs per request)", measured: `${fmt(rps("constant, createServer"), 0)} req/s, p99 ${fmt(p99("constant, createServer"), 1)} ms`, floor: `bare fastify POST ${fmt(bareRps, 0)} req/s`, ratio: `${fmt((100 * rps("constant, createServer")) / bareRps, 0)}%`, target: "", met: null },
      { section, name: "POST …/score vs that constant route on the same server", measured: `${fmt(rps("score"), 0)} req/s`, floor: `${fmt(rps("constant, createServer"), 0)} req/s`, ratio: `${fmt((100 * rps("score")) / rps("constant, createServer"), 0)}%`, target: "", met: null },
      { section, name: "POST …/score without the token check (endpoint routes on a plain fastify app)", measured: `${fmt(rps("score, no token check"), 0)} req/s, p99 ${fmt(p99("score, no token check"), 1)} ms`, floor: `bare fastify POST ${fmt(bareRps, 0)} req/s`, ratio: `${fmt((100 * rps("score, no token check")) / bareRps, 0)}%`, target: "", met: null },
    ];
    const errors = targets.map((t) => `${t.name} ${failed(t.name)}`).join(", ");
    log(`  non-2xx + errors: ${errors}`);
    await server.close();
    apps.splice(apps.indexOf(server.app), 1);
    return rows;
  } finally {
    for (const a of apps) await a.close();
    await ws.close();
    tw.remove();
  }
}
