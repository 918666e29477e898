import { Worker } from "node:worker_threads";
import { loadConfig, Workspace, type RunSummary } from "../src/index.ts";
import type { BenchWorkspace } from "./lib/bench-workspace.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median, msSince, nowNs, signed, timeMs } from "./lib/stats.ts";

/** Options of the thread-pool bench. */
export interface ThreadBenchOptions {
  /** Wanted duration of one CPU-bound step body, ms (the loop is calibrated to it). */
  readonly stepMs: number;
  readonly reps: number;
}

// The same loop as the bench workspace's `spin` step, run here to calibrate and as the floor.
function spin(iterations: number, seed: number): number {
  let x = seed >>> 0;
  for (let k = 0; k < iterations; k++) x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
  return x;
}

// The bare floor: the same loop in plain worker threads, no pool, no engine.
const BARE_WORKER = `const { parentPort } = require("node:worker_threads");
parentPort.on("message", ({ iterations, seed }) => {
  let x = seed >>> 0;
  for (let k = 0; k < iterations; k++) x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
  parentPort.postMessage(x);
});`;

function bareRun(w: Worker, iterations: number, seed: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onMessage = (x: number): void => {
      w.off("error", reject);
      resolve(x);
    };
    w.once("message", onMessage);
    w.once("error", reject);
    w.postMessage({ iterations, seed });
  });
}

function calibrate(stepMs: number): number {
  spin(5_000_000, 1); // let the JIT optimise it first
  let iterations = 10_000_000;
  for (;;) {
    const t = nowNs();
    spin(iterations, 1);
    const ms = msSince(t);
    if (ms >= 50) return Math.round((iterations * stepMs) / ms);
    iterations *= 4;
  }
}

function expectRan(s: RunSummary): void {
  if (s.status !== "succeeded" || s.steps.some((x) => x.status !== "succeeded")) {
    throw new Error(`bench run of spin2: expected both steps to run, got ${s.status} ${JSON.stringify(s.steps)} ${JSON.stringify(s.error)}`);
  }
}

/**
 * (b) Two CPU-bound `executor: "thread"` steps (cache off) at concurrency 2 against
 * concurrency 1, in the same warmed pool. The floor is the same loop in two bare worker threads,
 * one after the other and together: it shows how much parallelism the machine had to give.
 */
export async function threadBench(bw: BenchWorkspace, o: ThreadBenchOptions, log: (s: string) => void): Promise<Row[]> {
  const section = "b. thread pool";
  const iterations = calibrate(o.stepMs);
  const ws = await Workspace.open(await loadConfig({ root: bw.root, flags: { cacheDir: bw.freshCacheDir("threads"), threads: 2 } }));
  try {
    const info = await ws.load("spin2");
    const run = async (concurrency: number, n = iterations): Promise<number> => {
      let s!: RunSummary;
      const ms = await timeMs(async () => (s = await ws.run(info, { params: { iterations: n }, concurrency })));
      expectRan(s);
      return ms;
    };
    const workers = [new Worker(BARE_WORKER, { eval: true }), new Worker(BARE_WORKER, { eval: true })] as const;
    try {
      // Warm up: both pool threads started, the step module loaded and optimised in each; same for the bare workers.
      for (let i = 0; i < 3; i++) {
        await run(2, Math.round(iterations / 4));
        await Promise.all(workers.map((w, k) => bareRun(w, Math.round(iterations / 4), k)));
      }
      const seq: number[] = [];
      const par: number[] = [];
      const bareSeq: number[] = [];
      const barePar: number[] = [];
      for (let i = 0; i < o.reps; i++) {
        seq.push(await run(1));
        par.push(await run(2));
        bareSeq.push(await timeMs(async () => {
          await bareRun(workers[0], iterations, 1);
          await bareRun(workers[1], iterations, 2);
        }));
        barePar.push(await timeMs(() => Promise.all(workers.map((w, k) => bareRun(w, iterations, k + 1)))));
      }
      const s = median(seq);
      const p = median(par);
      const bs = median(bareSeq);
      const bp = median(barePar);
      log(`  loop: ${iterations.toLocaleString("en-US")} iterations`);
      log(`  sluice concurrency 1: ${seq.map((x) => fmt(x, 0)).join(", ")} ms; concurrency 2: ${par.map((x) => fmt(x, 0)).join(", ")} ms`);
      log(`  bare workers one after the other: ${bareSeq.map((x) => fmt(x, 0)).join(", ")} ms; together: ${barePar.map((x) => fmt(x, 0)).join(", ")} ms`);
      return [
        { section, name: "2 steps, concurrency 1 (one after the other)", measured: `${fmt(s, 0)} ms`, floor: `bare workers ${fmt(bs, 0)} ms`, ratio: `${fmt(s / bs, 2)}×; ${signed(s - bs, 0)} ms`, target: "", met: null },
        { section, name: "2 steps, concurrency 2 (in parallel)", measured: `${fmt(p, 0)} ms`, floor: `bare workers ${fmt(bp, 0)} ms`, ratio: `${fmt(p / bp, 2)}×; ${signed(p - bp, 0)} ms`, target: "", met: null },
        { section, name: "speed-up, parallel vs one after the other", measured: `${fmt(s / p, 2)}×`, floor: `bare workers ${fmt(bs / bp, 2)}× (ideal 2.00×)`, ratio: `${fmt((100 * s) / p / (bs / bp), 0)}% of the bare speed-up`, target: "≥ 1.8×", met: s / p >= 1.8 },
      ];
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  } finally {
    await ws.close();
  }
}
