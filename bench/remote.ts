import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { loadConfig, Workspace } from "../src/index.ts";
import { PACKAGE_ROOT, type BenchWorkspace } from "./lib/bench-workspace.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median, timeMs } from "./lib/stats.ts";

const REMOTE_STEPS = `import { defineStep, port, Type } from "sluice";

export const items = defineStep({
  name: "items",
  outputs: { list: port.json<number[]>() },
  params: Type.Object({ n: Type.Integer() }),
  run: ({ params }) => ({ list: Array.from({ length: params.n }, (_, i) => i) }),
});

export const echo = defineStep({
  name: "echo",
  executor: "remote",
  inputs: { item: port.json<number>() },
  outputs: { out: port.json<number>() },
  run: ({ inputs }) => ({ out: inputs.item }),
});

export const echoHere = defineStep({
  name: "echo-here",
  inputs: { item: port.json<number>() },
  outputs: { out: port.json<number>() },
  run: ({ inputs }) => ({ out: inputs.item }),
});
`;

const REMOTE_PIPELINE = `import { definePipeline, Type } from "sluice";
import { echo, items } from "../steps/remote-bench.ts";
export default definePipeline({
  name: "remote-bench",
  params: Type.Object({ n: Type.Integer({ default: 1000 }) }),
  build(p, { n }) {
    const l = p.step("items", items, { params: { n } });
    p.map("echo", echo, { over: l.outputs.list, as: "item" });
  },
});
`;

// The same map with the step on the coordinator's event loop: what the engine costs without Redis.
const LOCAL_PIPELINE = REMOTE_PIPELINE.replace('name: "remote-bench"', 'name: "remote-bench-here"').replace(/echo\b/g, "echoHere");

// The floor: a bare BullMQ worker process doing no-op jobs, the same concurrency as a sluice worker.
const RAW_WORKER = `import { Worker } from ${JSON.stringify(import.meta.resolve("bullmq"))};
const [url, prefix, concurrency] = process.argv.slice(2);
const u = new URL(url);
const w = new Worker("raw", async (job) => job.data.i, { connection: { host: u.hostname, port: Number(u.port || 6379) }, prefix, concurrency: Number(concurrency) });
await w.waitUntilReady();
process.stdout.write("ready\\n");
process.on("SIGTERM", async () => { await w.close(); process.exit(0); });
`;

function startProcess(args: string[], opts: { cwd: string; env: Record<string, string>; ready: RegExp }): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
  let text = "";
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (opts.ready.test(text)) resolve(child);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code} before it was ready:\n${text}`)));
  });
}

async function stop(children: ChildProcess[]): Promise<void> {
  await Promise.all(children.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null) return resolve();
    c.once("exit", () => resolve());
    c.kill("SIGTERM");
  })));
}

/** Adds n no-op jobs one by one (as a coordinator does) and polls job counts until all completed. */
async function rawJobs(queue: Queue, n: number): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => queue.add("noop", { i }, { removeOnComplete: false })));
  for (;;) {
    const c = await queue.getJobCounts("completed", "failed");
    if ((c.completed ?? 0) + (c.failed ?? 0) >= n) break;
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** CPU time (user + system, ms) a child process has used so far; 0 where /proc is missing. */
function cpuMs(c: ChildProcess): number {
  try {
    const f = fs.readFileSync(`/proc/${c.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

async function dropPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url);
  let cursor = "0";
  do {
    const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await r.del(...keys);
  } while (cursor !== "0");
  r.disconnect();
}

/**
 * r. Remote steps: n no-op steps mapped over two `sluice worker` processes, against raw BullMQ
 * (one Queue, two bare Worker processes, the same concurrency) on the same Redis in the same run.
 * The sluice side is a whole `Workspace.run` (plan, cache keys, run record, one BullMQ job per
 * step, results through QueueEvents); the raw side adds the jobs and polls the completed count.
 * The workers run the steps the way they run by default: a step proven quick on the pool runs on
 * the worker's event loop, as the raw no-op does; `--pool-only` is measured after, for reference.
 */
export async function remoteBench(bw: BenchWorkspace, o: { steps: number; reps: number; workerConcurrency: number; redisUrl: string }, log: (s: string) => void): Promise<Row[]> {
  fs.writeFileSync(path.join(bw.root, "steps/remote-bench.ts"), REMOTE_STEPS);
  fs.writeFileSync(path.join(bw.root, "pipelines/remote-bench.ts"), REMOTE_PIPELINE);
  fs.writeFileSync(path.join(bw.root, "pipelines/remote-bench-here.ts"), LOCAL_PIPELINE);
  fs.writeFileSync(path.join(bw.root, "raw-worker.mjs"), RAW_WORKER);
  const prefix = `sluice-bench-${randomBytes(4).toString("hex")}`;
  const cacheDir = bw.freshCacheDir("remote");
  const env = { SLUICE_REDIS_URL: o.redisUrl, SLUICE_REDIS_PREFIX: prefix, SLUICE_CACHE_DIR: cacheDir };
  const bin = path.join(PACKAGE_ROOT, "bin/sluice.js");
  // SLUICE_BENCH_PROFILE_DIR=/tmp/x: CPU profiles of every worker process (sluice and raw) land there.
  const prof = process.env.SLUICE_BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.SLUICE_BENCH_PROFILE_DIR}`] : [];
  const workerArgs = [...prof, bin, "worker", "--workspace", bw.root, "--concurrency", String(o.workerConcurrency), ...(process.env.SLUICE_BENCH_THREADS ? ["--threads", process.env.SLUICE_BENCH_THREADS] : [])];
  const sluiceWorkers = await Promise.all([0, 1].map(() => startProcess(workerArgs, { cwd: bw.root, env, ready: / ready: / })));
  const poolWorkers: ChildProcess[] = [];
  const rawWorkers = await Promise.all([0, 1].map(() => startProcess([...prof, path.join(bw.root, "raw-worker.mjs"), o.redisUrl, prefix, String(o.workerConcurrency)], { cwd: bw.root, env, ready: /^ready$/m })));
  const u = new URL(o.redisUrl);
  const queue = new Queue("raw", { connection: { host: u.hostname, port: Number(u.port || 6379) }, prefix });
  const ws = await Workspace.open(await loadConfig({ root: bw.root, flags: { cacheDir }, env: { ...process.env, ...env } }));
  const sluiceMs: number[] = [];
  const rawMs: number[] = [];
  const hereMs: number[] = [];
  const poolMs: number[] = [];
  // CPU per step of each side, summed over the measured repetitions: [coordinator, workers].
  const cpu = { sluice: [0, 0], raw: [0, 0] };
  const cpuOf = async (side: number[], workers: ChildProcess[], fn: () => Promise<void>): Promise<number> => {
    const [c0, w0] = [process.cpuUsage(), workers.reduce((a, w) => a + cpuMs(w), 0)];
    const ms = await timeMs(fn);
    const c = process.cpuUsage(c0);
    side[0]! += (c.user + c.system) / 1000;
    side[1]! += workers.reduce((a, w) => a + cpuMs(w), 0) - w0;
    return ms;
  };
  try {
    const info = await ws.load("remote-bench");
    const here = await ws.load("remote-bench-here");
    for (let rep = 0; rep <= o.reps; rep++) {
      // Every step reruns (force), so each repetition sends n jobs; the first repetition warms up.
      const sCpu = rep > 0 ? cpu.sluice : [0, 0];
      const s = await cpuOf(sCpu, sluiceWorkers, async () => {
        const r = await ws.run(info, { params: { n: o.steps }, concurrency: 256, force: "all" });
        if (r.status !== "succeeded") throw new Error(`remote bench run ${r.status}: ${r.error?.message}`);
      });
      await queue.obliterate({ force: true });
      const f = await cpuOf(rep > 0 ? cpu.raw : [0, 0], rawWorkers, () => rawJobs(queue, o.steps));
      const h = await timeMs(() => ws.run(here, { params: { n: o.steps }, concurrency: 256, force: "all" }));
      if (rep > 0) {
        sluiceMs.push(s);
        rawMs.push(f);
        hereMs.push(h);
      }
    }
    // Informational: the same workers with --pool-only (every step handed to a pool thread), after the measured runs.
    await stop(sluiceWorkers);
    poolWorkers.push(...(await Promise.all([0, 1].map(() => startProcess([...workerArgs, "--pool-only"], { cwd: bw.root, env, ready: / ready: / })))));
    for (let rep = 0; rep <= o.reps; rep++) {
      const p = await timeMs(async () => {
        const r = await ws.run(info, { params: { n: o.steps }, concurrency: 256, force: "all" });
        if (r.status !== "succeeded") throw new Error(`remote bench run (--pool-only) ${r.status}: ${r.error?.message}`);
      });
      if (rep > 0) poolMs.push(p);
    }
  } finally {
    await ws.close();
    await queue.close();
    await stop([...sluiceWorkers, ...rawWorkers, ...poolWorkers]);
    await dropPrefix(o.redisUrl, prefix);
  }
  const perS = (ms: number): number => o.steps / (ms / 1000);
  const sluiceRate = perS(median(sluiceMs));
  const rawRate = perS(median(rawMs));
  const perStep = (side: number[]): string => side.map((x) => fmt((x / (o.steps * o.reps)) * 1000, 0)).join(" + ");
  log(`  CPU µs per step, coordinator + both workers: sluice ${perStep(cpu.sluice)}; raw BullMQ ${perStep(cpu.raw)}`);
  log(`  sluice remote: ${sluiceMs.map((x) => fmt(x, 0)).join(", ")} ms; raw BullMQ: ${rawMs.map((x) => fmt(x, 0)).join(", ")} ms; same steps inline: ${hereMs.map((x) => fmt(x, 0)).join(", ")} ms; sluice --pool-only: ${poolMs.map((x) => fmt(x, 0)).join(", ")} ms (${o.steps} each)`);
  const share = sluiceRate / rawRate;
  return [{
    section: "r. remote steps",
    name: `${o.steps.toLocaleString("en-US")} no-op remote steps, 2 workers × ${o.workerConcurrency}`,
    measured: `${fmt(sluiceRate, 0)} steps/s`,
    floor: `${fmt(rawRate, 0)} jobs/s raw BullMQ`,
    ratio: `${fmt(share * 100, 0)}%`,
    target: "≥ 50%",
    met: share >= 0.5,
  }, {
    section: "r. remote steps",
    name: `the same with \`sluice worker --pool-only\` (every step handed to a pool thread), informational`,
    measured: `${fmt(perS(median(poolMs)), 0)} steps/s`,
    floor: `${fmt(rawRate, 0)} jobs/s raw BullMQ`,
    ratio: `${fmt((perS(median(poolMs)) / rawRate) * 100, 0)}%`,
    target: "",
    met: null,
  }, {
    section: "r. remote steps",
    name: `the same ${o.steps.toLocaleString("en-US")} steps inline (no Redis), informational`,
    measured: `${fmt(perS(median(hereMs)), 0)} steps/s`,
    floor: "",
    ratio: "",
    target: "",
    met: null,
  }];
}
