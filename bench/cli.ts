import { spawn } from "node:child_process";
import path from "node:path";
import type { BenchWorkspace } from "./lib/bench-workspace.ts";
import { PACKAGE_ROOT } from "./lib/bench-workspace.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median, msSince, nowNs, signed } from "./lib/stats.ts";

/** Options of the whole-process bench. */
export interface CliBenchOptions {
  /** Spawns of each measured command (median reported). */
  readonly spawns: number;
}

const SLUICE = path.join(PACKAGE_ROOT, "bin", "sluice.js");

/** Spawns a command, waits for it, and returns its wall time in ms; throws on a non-zero exit. */
function spawnMs(args: readonly string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = nowNs();
    // NODE_OPTIONS is dropped so the child starts exactly as a user's shell would start it.
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const ms = msSince(t);
      if (code === 0) resolve(ms);
      else reject(new Error(`node ${args.join(" ")} exited with ${code}:\n${out.slice(-2000)}`));
    });
  });
}

async function medianOf(n: number, args: readonly string[], cwd: string): Promise<{ ms: number; all: number[] }> {
  const all: number[] = [];
  for (let i = 0; i < n; i++) all.push(await spawnMs(args, cwd));
  return { ms: median(all), all };
}

/**
 * (a, whole process) `sluice run chain1000` fully cached, spawned as a user would, beside
 * spawning a bare `node -e 0`; also `sluice --version` (start-up alone) to split the time.
 */
export async function cliBench(bw: BenchWorkspace, o: CliBenchOptions, log: (s: string) => void): Promise<Row[]> {
  const section = "a. sluice run, whole process";
  const run = [SLUICE, "run", "chain1000", "--workspace", bw.root];
  const coldMs = await spawnMs(run, bw.root); // fills the cache
  await spawnMs(run, bw.root); // warms the OS file cache for the cached runs
  const floor = await medianOf(o.spawns, ["-e", "0"], bw.root);
  const version = await medianOf(o.spawns, [SLUICE, "--version"], bw.root);
  const cached = await medianOf(o.spawns, run, bw.root);
  log(`  node -e 0: ${floor.all.map((x) => fmt(x, 0)).join(", ")} ms`);
  log(`  sluice --version: ${version.all.map((x) => fmt(x, 0)).join(", ")} ms`);
  log(`  sluice run chain1000 (cached): ${cached.all.map((x) => fmt(x, 0)).join(", ")} ms; cold once: ${fmt(coldMs, 0)} ms`);
  const vs = (ms: number): string => `${fmt(ms / floor.ms)}×; ${signed(ms - floor.ms, 0)} ms`;
  const floorText = `node -e 0: ${fmt(floor.ms, 0)} ms`;
  return [
    { section, name: `sluice run chain1000, cached (median of ${o.spawns})`, measured: `${fmt(cached.ms, 0)} ms`, floor: floorText, ratio: vs(cached.ms), target: "≤ 300 ms", met: cached.ms <= 300 },
    { section, name: `sluice --version: start-up alone (median of ${o.spawns})`, measured: `${fmt(version.ms, 0)} ms`, floor: floorText, ratio: vs(version.ms), target: "", met: null },
    { section, name: "sluice run chain1000, cold (once)", measured: `${fmt(coldMs, 0)} ms`, floor: floorText, ratio: vs(coldMs), target: "", met: null },
  ];
}
