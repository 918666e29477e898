import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import PQueue from "p-queue";
import { loadConfig, Workspace } from "../src/index.ts";
import type { BenchWorkspace } from "./lib/bench-workspace.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median, signed, timeMs } from "./lib/stats.ts";

const MAP_STEPS = `import { defineStep, defineCommandStep, port, Type } from "sluice";

export const items = defineStep({
  name: "items",
  outputs: { list: port.json<number[]>() },
  params: Type.Object({ n: Type.Integer() }),
  run: ({ params }) => ({ list: Array.from({ length: params.n }, (_, i) => i) }),
});

export const echo = defineStep({
  name: "echo",
  inputs: { item: port.json<number>() },
  outputs: { out: port.json<number>() },
  run: ({ inputs }) => ({ out: inputs.item }),
});

export const touch = defineCommandStep({
  name: "touch",
  cache: false,
  outputs: { out: port.file() },
  params: Type.Object({ i: Type.Integer() }),
  command: ["node", "-e", "require('fs').writeFileSync(process.argv[1], process.argv[2])", "{outputs.out}", "{params.i}"],
});
`;

const MAPPED = `import { definePipeline, Type } from "sluice";
import { echo, items } from "../steps/map-bench.ts";
export default definePipeline({
  name: "map-bench",
  params: Type.Object({ n: Type.Integer({ default: 10000 }) }),
  build(p, { n }) {
    const l = p.step("items", items, { params: { n } });
    p.map("echo", echo, { over: l.outputs.list, as: "item" });
  },
});
`;

const COMMANDS = `import { definePipeline, Type } from "sluice";
import { touch } from "../steps/map-bench.ts";
export default definePipeline({
  name: "cmd-bench",
  params: Type.Object({ n: Type.Integer({ default: 20 }) }),
  build(p, { n }) {
    for (let i = 0; i < n; i++) p.step(\`t\${i}\`, touch, { params: { i } });
  },
});
`;

/** The floor: the same command spawned directly, with the same allow-listed environment a command step gets. */
function bareSpawn(out: string, i: number): Promise<void> {
  const env: Record<string, string> = {};
  for (const k of ["PATH", "HOME", "LANG"]) if (process.env[k] !== undefined) env[k] = process.env[k]!;
  return new Promise((resolve, reject) => {
    const c = spawn("node", ["-e", "require('fs').writeFileSync(process.argv[1], process.argv[2])", out, String(i)], { stdio: "ignore", env });
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
  });
}

/** Runs `sluice run` as a child process; resolves with its wall time in ms. */
function timeCli(root: string, args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [path.join(root, "node_modules/sluice/bin/sluice.js"), ...args], { cwd: root, stdio: "ignore" });
    c.on("error", reject);
    c.on("close", (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`sluice ${args.join(" ")} exited ${code}`))));
  });
}

/** e. Cost of `map` per element (cold and cached) and of a command step above a bare spawn. */
export async function controlFlowBench(bw: BenchWorkspace, o: { elements: number; reps: number; commands: number }, log: (s: string) => void): Promise<Row[]> {
  fs.writeFileSync(path.join(bw.root, "steps/map-bench.ts"), MAP_STEPS);
  fs.writeFileSync(path.join(bw.root, "pipelines/map-bench.ts"), MAPPED);
  fs.writeFileSync(path.join(bw.root, "pipelines/cmd-bench.ts"), COMMANDS);
  const cold: number[] = [];
  const cached: number[] = [];
  const floor: number[] = [];
  for (let rep = 0; rep <= o.reps; rep++) {
    const ws = await Workspace.open(await loadConfig({ root: bw.root, flags: { cacheDir: bw.freshCacheDir("map") } }));
    try {
      const info = await ws.load("map-bench");
      const q = new PQueue({ concurrency: 8 });
      const f = await timeMs(() => Promise.all(Array.from({ length: o.elements }, (_, i) => q.add(async () => ({ out: i })))));
      const c = await timeMs(() => ws.run(info, { params: { n: o.elements }, concurrency: 8 }));
      const w = await timeMs(() => ws.run(info, { params: { n: o.elements }, concurrency: 8 }));
      if (rep > 0) {
        cold.push(c);
        cached.push(w);
        floor.push(f);
      }
    } finally {
      await ws.close();
    }
  }
  const perEl = (ms: number): number => (ms * 1000) / o.elements;
  log(`  map cold: ${cold.map((x) => fmt(x, 0)).join(", ")} ms; cached: ${cached.map((x) => fmt(x, 0)).join(", ")} ms; p-queue floor ${floor.map((x) => fmt(x, 0)).join(", ")} ms`);

  const ws = await Workspace.open(await loadConfig({ root: bw.root, flags: { cacheDir: bw.freshCacheDir("cmd") } }));
  const stepMs: number[] = [];
  const spawnMs: number[] = [];
  try {
    const info = await ws.load("cmd-bench");
    await ws.run(info, { params: { n: 2 }, concurrency: 1 });
    const tmp = bw.freshCacheDir("spawn");
    fs.mkdirSync(tmp, { recursive: true });
    await bareSpawn(path.join(tmp, "warm"), 0);
    const bare = async (): Promise<number> => (await timeMs(async () => {
      for (let i = 0; i < o.commands; i++) await bareSpawn(path.join(tmp, `o${i}`), i);
    })) / o.commands;
    // Bare spawns before and after each run of the pipeline, so drift in the machine's load
    // falls on both sides; the overhead is the median of the per-repetition differences.
    for (let rep = 0; rep < o.reps; rep++) {
      const before = await bare();
      const r = (await timeMs(() => ws.run(info, { params: { n: o.commands }, concurrency: 1 }))) / o.commands;
      const after = await bare();
      spawnMs.push((before + after) / 2);
      stepMs.push(r);
    }
  } finally {
    await ws.close();
  }
  const overhead = median(stepMs.map((x, i) => x - spawnMs[i]!));

  // many-models with 10,000 stores, fully cached, as a user runs it (a whole process).
  const pkg = path.join(bw.root, "node_modules/sluice");
  fs.cpSync(path.join(pkg, "steps/forecast"), path.join(bw.root, "steps/forecast"), { recursive: true });
  fs.cpSync(path.join(pkg, "steps/ml/rng.ts"), path.join(bw.root, "steps/ml/rng.ts"));
  fs.cpSync(path.join(pkg, "pipelines/many-models.ts"), path.join(bw.root, "pipelines/many-models.ts"));
  const mmArgs = ["run", "many-models", "--param", `stores=${o.elements}`, "--workspace", bw.root];
  await timeCli(bw.root, mmArgs);
  const mm: number[] = [];
  for (let rep = 0; rep < Math.max(3, o.reps); rep++) mm.push(await timeCli(bw.root, mmArgs));
  log(`  many-models ${o.elements} stores, cached, whole process: ${mm.map((x) => fmt(x, 0)).join(", ")} ms`);
  log(`  command step: ${stepMs.map((x) => fmt(x, 1)).join(", ")} ms/step; bare spawn ${spawnMs.map((x) => fmt(x, 1)).join(", ")} ms`);
  const section = "e. control flow";
  return [
    { section, name: `map over ${o.elements.toLocaleString("en-US")} elements, cold`, measured: `${fmt(perEl(median(cold)))} µs/element (${fmt(median(cold), 0)} ms)`, floor: `p-queue ${fmt(perEl(median(floor)))} µs/task`, ratio: `${fmt(median(cold) / median(floor))}×`, target: "", met: null },
    { section, name: `map over ${o.elements.toLocaleString("en-US")} elements, cached`, measured: `${fmt(perEl(median(cached)))} µs/element (${fmt(median(cached), 0)} ms)`, floor: `p-queue ${fmt(perEl(median(floor)))} µs/task`, ratio: `${fmt(median(cached) / median(floor))}×`, target: "", met: null },
    { section, name: `sluice run many-models, ${o.elements.toLocaleString("en-US")} stores, fully cached (whole process)`, measured: `${fmt(median(mm), 0)} ms`, floor: "", ratio: "", target: "< 2,000 ms", met: median(mm) < 2000 },
    { section, name: `command step (node -e), ${o.commands} in a run, one at a time`, measured: `${fmt(median(stepMs))} ms/step`, floor: `bare spawn ${fmt(median(spawnMs))} ms`, ratio: `${signed(overhead)} ms`, target: "≤ +5 ms", met: overhead <= 5 },
  ];
}
