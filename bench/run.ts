// `npm run bench`: sluice's benchmarks. Every figure is printed beside a floor measured in the
// same process run (a bare p-queue loop, a bare read stream, `node -e 0`…), as medians of
// repeated runs. Nothing is asserted: the results are printed and appended to BENCHMARKS.md.
//
//   npm run bench                      full run (≈ 3–5 min on 2 cores), appends to BENCHMARKS.md
//   npm run bench -- --quick           small sizes, for trying the bench itself; writes nothing
//   npm run bench -- --only a,c        some sections (a = engine + CLI, b threads, c hashing, d object-hash, e map + command steps, f ML steps, g serve triggers, m model endpoints, r remote steps on Redis, s shared cache server, u studio run page in Chromium)
//   npm run bench -- --no-write        do not append to BENCHMARKS.md
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { cliBench } from "./cli.ts";
import { engineBench } from "./engine.ts";
import { hashBench } from "./hashing.ts";
import { createBenchWorkspace, PACKAGE_ROOT } from "./lib/bench-workspace.ts";
import { loadAverages, machineInfo } from "./lib/machine.ts";
import { markdownTable, textTable, type Row } from "./lib/report.ts";
import { fmt, msSince, nowNs } from "./lib/stats.ts";
import { mlBench } from "./ml.ts";
import { endpointsBench } from "./endpoints.ts";
import { objectHashBench } from "./object-hash.ts";
import { controlFlowBench } from "./control-flow.ts";
import { threadBench } from "./threads.ts";
import { serveBench } from "./serve.ts";
import { remoteBench } from "./remote.ts";
import { remoteCacheBench } from "./remote-cache.ts";
import { studioBench } from "./studio.ts";

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    "no-write": { type: "boolean", default: false },
  },
});
const quick = values.quick;
const ALL_SECTIONS = "a,b,c,d,e,f,g,m,r,s,u";
const only = new Set((values.only ?? ALL_SECTIONS).split(",").map((s) => s.trim().toLowerCase()));
// A run of some sections is recorded too, its heading naming them.
const write = !values["no-write"] && !quick;

const SIZES = quick
  ? { steps: 500, engineReps: 2, engineWarmups: 1, spawns: 3, stepMs: 150, threadReps: 2, bigMiB: 64, bigReps: 2, files: 500, fileReps: 2, samples: 3, sampleMs: 50, elements: 500, commands: 5, trainRows: 5_000, scoreRows: 5_000, csvRows: 5_000, mlReps: 2, trainReps: 1 }
  : { steps: 10_000, engineReps: 9, engineWarmups: 3, spawns: 7, stepMs: 400, threadReps: 5, bigMiB: 1024, bigReps: 5, files: 10_000, fileReps: 5, samples: 7, sampleMs: 200, elements: 10_000, commands: 20, trainRows: 100_000, scoreRows: 200_000, csvRows: 1_000_000, mlReps: 5, trainReps: 3 };

const BENCHMARKS_MD = path.join(PACKAGE_ROOT, "BENCHMARKS.md");
const HEADER = `# Benchmarks

Written by \`npm run bench\` (\`bench/run.ts\`); each run appends one section below.

How to read them:
- Every figure stands beside a **floor measured in the same process run**: the same work done by
  the bare tool (a p-queue loop over the same DAG, a bare \`createReadStream\` → sha256, re-hashing
  the files, spawning \`node -e 0\`, canonical JSON + sha256). Ratios to the floor travel between
  machines far better than absolute times.
- Each figure is the **median** of repeated runs (counts in the section); the raw samples are in
  the console output. Warm-up runs are discarded.
- Nothing is asserted: a missed target is recorded as "NO", never hidden.
- The machine is shared; the load averages at the start and end of each run are recorded, and a
  run on a busy machine reads slower than the engine is.
`;

function log(s: string): void {
  process.stdout.write(`${s}\n`);
}

// The exact command, as Markdown: npm passes the script it ran; otherwise rebuild it from argv.
const extra = process.argv.slice(2).join(" ");
const script = process.env.npm_lifecycle_event === "bench" ? process.env.npm_lifecycle_script : undefined;
const commandMd = script
  ? `\`npm run bench${extra ? ` -- ${extra}` : ""}\`, which ran \`${script}${extra ? ` ${extra}` : ""}\``
  : `\`${["node", ...process.execArgv, path.relative(PACKAGE_ROOT, process.argv[1]!), ...process.argv.slice(2)].join(" ")}\``;

const machine = machineInfo();
const startedAt = new Date();
const loadBefore = loadAverages();
log(`sluice bench · ${startedAt.toISOString()} · ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB · Node ${machine.node}${quick ? " · QUICK" : ""}`);
log(`load average (1/5/15 min): ${loadBefore}`);
const t0 = nowNs();
const rows: Row[] = [];
const bw = createBenchWorkspace();
/** Folders removed after the last section (see HashBenchOptions.removeLater). */
const removeAtEnd: string[] = [];
try {
  if (only.has("a")) {
    log(`\na. ${SIZES.steps.toLocaleString("en-US")} no-op inline steps, in process (median of ${SIZES.engineReps}, after ${SIZES.engineWarmups} warm-up${SIZES.engineWarmups > 1 ? "s" : ""})`);
    rows.push(...(await engineBench(bw, { steps: SIZES.steps, reps: SIZES.engineReps, warmups: SIZES.engineWarmups, concurrency: 8 }, log)));
    log(`\na. sluice run chain1000 as a process (median of ${SIZES.spawns} spawns)`);
    rows.push(...(await cliBench(bw, { spawns: SIZES.spawns }, log)));
  }
  if (only.has("b")) {
    log(`\nb. two CPU-bound thread steps (median of ${SIZES.threadReps}, pool warmed)`);
    rows.push(...(await threadBench(bw, { stepMs: SIZES.stepMs, reps: SIZES.threadReps }, log)));
  }
  if (only.has("c")) {
    log(`\nc. hashing (median of ${SIZES.bigReps} for the big file, ${SIZES.fileReps} for the small files)`);
    rows.push(...(await hashBench({ bigMiB: SIZES.bigMiB, bigReps: SIZES.bigReps, files: SIZES.files, fileKiB: 64, fileReps: SIZES.fileReps, removeLater: (dir) => removeAtEnd.push(dir) }, log)));
  }
  if (only.has("d")) {
    log(`\nd. object-hash vs canonical JSON + sha256 (median of ${SIZES.samples} batches)`);
    rows.push(...objectHashBench({ samples: SIZES.samples, sampleMs: SIZES.sampleMs }, log));
  }
  if (only.has("e")) {
    log(`\ne. map and command steps (median of ${SIZES.engineReps})`);
    rows.push(...(await controlFlowBench(bw, { elements: SIZES.elements, reps: SIZES.engineReps, commands: SIZES.commands }, log)));
  }
  if (only.has("f")) {
    log(`\nf. ML steps (GBDT median of ${SIZES.trainReps}; scoring and CSV median of ${SIZES.mlReps}, after one warm-up)`);
    rows.push(...(await mlBench(bw, { trainRows: SIZES.trainRows, scoreRows: SIZES.scoreRows, csvRows: SIZES.csvRows, reps: SIZES.mlReps, trainReps: SIZES.trainReps }, log)));
  }
  if (only.has("g")) {
    const serve = { durationS: quick ? 2 : 5, rounds: quick ? 1 : 2, connections: 10 };
    log(`\ng. sluice serve: trigger requests/s vs a bare fastify route (autocannon, ${serve.connections} connections, ${serve.rounds} alternating rounds of ${serve.durationS} s, median)`);
    rows.push(...(await serveBench(bw, serve, log)));
  }
  if (only.has("m")) {
    const endpoints = { connections: 50, durationS: 1, rounds: quick ? 2 : 8 };
    log(`\nm. model endpoints: score requests/s and p99 vs a bare fastify POST route (autocannon in a worker thread, ${endpoints.connections} connections, ${endpoints.rounds} alternating slices of ${endpoints.durationS} s each, median)`);
    rows.push(...(await endpointsBench(endpoints, log)));
  }
  if (only.has("r")) {
    const remote = { steps: quick ? 200 : 1000, reps: quick ? 1 : 3, workerConcurrency: 8, redisUrl: process.env.SLUICE_BENCH_REDIS_URL ?? "redis://127.0.0.1:6379" };
    log(`\nr. ${remote.steps.toLocaleString("en-US")} no-op remote steps on two sluice workers vs raw BullMQ on the same Redis (median of ${remote.reps}, after one warm-up)`);
    rows.push(...(await remoteBench(bw, remote, log)));
  }
  if (only.has("s")) {
    const shared = { steps: quick ? 200 : 1000, chain: quick ? 50 : 200, blobs: 8, blobMiB: quick ? 1 : 8, reps: quick ? 1 : 3 };
    log(`\ns. fully cached runs served by a turborepo-remote-cache server on loopback vs the local cache (median of ${shared.reps}, after one warm-up)`);
    rows.push(...(await remoteCacheBench(bw, shared, log)));
  }
  if (only.has("u")) {
    const studio = { elements: quick ? 1000 : SIZES.elements, reps: quick ? 2 : 5 };
    log(`\nu. Studio run page in Chromium, many-models with ${studio.elements.toLocaleString("en-US")} elements (median of ${studio.reps}, after one warm-up)`);
    rows.push(...(await studioBench(studio, log)));
  }
} finally {
  bw.remove();
  for (const dir of removeAtEnd) fs.rmSync(dir, { recursive: true, force: true });
}
const totalS = msSince(t0) / 1000;
const loadAfter = loadAverages();
log(`\n${textTable(rows)}\n`);
const met = rows.filter((r) => r.met === true).length;
const missed = rows.filter((r) => r.met === false);
log(`targets: ${met} met, ${missed.length} missed${missed.length ? ` (${missed.map((r) => r.name).join("; ")})` : ""}`);
log(`bench took ${fmt(totalS, 0)} s; load average at the end: ${loadAfter}`);

if (write) {
  const section = [
    `## ${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC${only.size < ALL_SECTIONS.split(",").length ? ` (sections ${[...only].sort().join(", ")} only)` : ""}`,
    "",
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB memory, ${machine.os}`,
    `- Node ${machine.node}`,
    `- Command: ${commandMd}`,
    `- Load average (1/5/15 min) at start ${loadBefore}, at end ${loadAfter}; the run took ${fmt(totalS, 0)} s`,
    `- Repeats: engine ${SIZES.engineReps} runs per case after ${SIZES.engineWarmups} warm-up${SIZES.engineWarmups > 1 ? "s" : ""} (in process; map and command steps after one); ${SIZES.spawns} spawns per command; threads ${SIZES.threadReps}; big file ${SIZES.bigReps} per variant; small files ${SIZES.fileReps}; object hashing ${SIZES.samples} batches of ≈ ${SIZES.sampleMs} ms; GBDT training ${SIZES.trainReps}; scoring and CSV ${SIZES.mlReps} after a warm-up`,
    `- Targets: ${met} met, ${missed.length} missed`,
    "",
    markdownTable(rows),
    "",
  ].join("\n");
  const existing = fs.existsSync(BENCHMARKS_MD) ? fs.readFileSync(BENCHMARKS_MD, "utf8") : HEADER;
  fs.writeFileSync(BENCHMARKS_MD, `${existing.trimEnd()}\n\n${section}`);
  log(`appended to ${BENCHMARKS_MD}`);
}
