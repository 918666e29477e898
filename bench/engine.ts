import PQueue from "p-queue";
import { loadConfig, Workspace, type RunSummary } from "../src/index.ts";
import type { BenchWorkspace } from "./lib/bench-workspace.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median, signed, timeMs } from "./lib/stats.ts";

/** Options of the engine-overhead bench. */
export interface EngineBenchOptions {
  /** No-op steps after the root (wide) or in the chain. */
  readonly steps: number;
  /** Measured repetitions (`warmups` more run first and are discarded). */
  readonly reps: number;
  /**
   * Repetitions discarded first. V8 keeps optimising the engine's code through its first tens of
   * thousands of steps: after one warm-up, the first measured cold runs of the wide DAG read 452,
   * 302, 329, 364 ms, the later ones 255–266. The in-process figures are the steady state of a
   * long-lived process (`sluice serve`, an API user); a new process's whole cost is the CLI row.
   */
  readonly warmups: number;
  readonly concurrency: number;
}

type Shape = "wide" | "chain";

/** The DAG of a shape as plain arrays: node 0 is the first step. */
function dagOf(shape: Shape, steps: number): { dependents: number[][]; indegree: number[] } {
  const n = shape === "wide" ? steps + 1 : steps;
  const dependents: number[][] = Array.from({ length: n }, () => []);
  const indegree = new Array<number>(n).fill(0);
  for (let i = 1; i < n; i++) {
    const from = shape === "wide" ? 0 : i - 1;
    dependents[from]!.push(i);
    indegree[i] = 1;
  }
  return { dependents, indegree };
}

/** The floor: p-queue running one no-op async function per node, each started once its dependencies finished. */
async function pqueueFloor(dag: { dependents: number[][]; indegree: number[] }, concurrency: number): Promise<void> {
  const q = new PQueue({ concurrency });
  const remaining = dag.indegree.slice();
  const outputs = new Array<unknown>(remaining.length);
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const start = (i: number): void => {
      q.add(async () => ({ out: i })).then((r) => {
        outputs[i] = r;
        for (const d of dag.dependents[i]!) if (--remaining[d]! === 0) start(d);
        if (++done === remaining.length) resolve();
      }, reject);
    };
    remaining.forEach((deg, i) => deg === 0 && start(i));
  });
}

function expectAll(s: RunSummary, status: "succeeded" | "cached", count: number): void {
  const bad = s.steps.filter((x) => x.status !== status);
  if (s.status !== "succeeded" || s.steps.length !== count || bad.length > 0) {
    throw new Error(`bench run of ${s.pipeline}: expected ${count} steps ${status}, got run ${s.status}, ${bad.length} others (first: ${JSON.stringify(bad[0] ?? s.error)})`);
  }
}

interface Sample {
  cold: number;
  cached: number;
  /** Fully cached again, from a new Workspace on the same cache: reads the action cache as a new process does. */
  cachedNew: number;
  floor: number;
  /** `ws.plan()` alone: params validation, build, wiring checks, topological sort. */
  plan: number;
}

/** The measured samples, and the warm-up ones (printed, not counted). */
async function measureShape(bw: BenchWorkspace, shape: Shape, o: EngineBenchOptions): Promise<{ samples: Sample[]; warm: Sample[] }> {
  const total = shape === "wide" ? o.steps + 1 : o.steps;
  const dag = dagOf(shape, o.steps);
  const samples: Sample[] = [];
  const warm: Sample[] = [];
  for (let rep = 0; rep < o.warmups + o.reps; rep++) {
    const config = await loadConfig({ root: bw.root, flags: { cacheDir: bw.freshCacheDir(shape) } });
    const ws = await Workspace.open(config);
    let sample: Omit<Sample, "cachedNew">;
    let summary!: RunSummary;
    try {
      const info = await ws.load(shape);
      const floor = await timeMs(() => pqueueFloor(dag, o.concurrency));
      const plan = await timeMs(() => ws.plan(info.pipeline, { n: o.steps }));
      const cold = await timeMs(async () => (summary = await ws.run(info, { params: { n: o.steps }, concurrency: o.concurrency })));
      expectAll(summary, "succeeded", total);
      const cached = await timeMs(async () => (summary = await ws.run(info, { params: { n: o.steps }, concurrency: o.concurrency })));
      expectAll(summary, "cached", total);
      sample = { cold, cached, floor, plan };
    } finally {
      await ws.close();
    }
    // The same cache from a new Workspace: the action-cache entries are read from SQLite again,
    // as a new `sluice run` process reads them (a second run in one process keeps them).
    const again = await Workspace.open(config);
    try {
      const info = await again.load(shape);
      const cachedNew = await timeMs(async () => (summary = await again.run(info, { params: { n: o.steps }, concurrency: o.concurrency })));
      expectAll(summary, "cached", total);
      (rep >= o.warmups ? samples : warm).push({ ...sample, cachedNew }); // the first warm up the JIT and module caches
    } finally {
      await again.close();
    }
  }
  return { samples, warm };
}

/** (a) In-process engine overhead: µs per no-op step, cold and cached, beside a bare p-queue loop. */
export async function engineBench(bw: BenchWorkspace, o: EngineBenchOptions, log: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const section = "a. engine, in process";
  for (const shape of ["wide", "chain"] as const) {
    const total = shape === "wide" ? o.steps + 1 : o.steps;
    const { samples, warm } = await measureShape(bw, shape, o);
    const floorMs = median(samples.map((s) => s.floor));
    const floorUs = (floorMs * 1000) / total;
    const label = shape === "wide" ? `wide (1 → ${o.steps.toLocaleString("en-US")})` : `chain (${o.steps.toLocaleString("en-US")} deep)`;
    for (const phase of ["cold", "cached", "cachedNew"] as const) {
      const ms = median(samples.map((s) => s[phase]));
      const us = (ms * 1000) / total;
      const limit = phase === "cold" ? 30 : 10;
      rows.push({
        section,
        name: `${label}, ${phase === "cachedNew" ? "cached, from a new Workspace (reads the entries as a new process does)" : phase === "cached" ? "cached (a second run in the same Workspace)" : phase}`,
        measured: `${fmt(us)} µs/step (${fmt(ms, 0)} ms)`,
        floor: `p-queue ${fmt(floorUs, 2)} µs/step (${fmt(floorMs, 0)} ms)`,
        ratio: `${fmt(us / floorUs)}×; ${signed(us - floorUs)} µs/step`,
        target: `≤ ${limit} µs/step`,
        met: us <= limit,
      });
      log(`  ${shape} ${phase}: ${samples.map((s) => fmt(s[phase], 0)).join(", ")} ms (warm-ups ${warm.map((s) => fmt(s[phase], 0)).join(", ")}); floor ${samples.map((s) => fmt(s.floor, 1)).join(", ")} ms`);
    }
    const planMs = median(samples.map((s) => s.plan));
    const planUs = (planMs * 1000) / total;
    log(`  ${shape} plan only: ${samples.map((s) => fmt(s.plan, 0)).join(", ")} ms`);
    rows.push({ section, name: `${label}, of which planning (ws.plan alone)`, measured: `${fmt(planUs)} µs/step (${fmt(planMs, 0)} ms)`, floor: "", ratio: "", target: "", met: null });
  }
  return rows;
}
