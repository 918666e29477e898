import type { RunStatus } from "../../store/run-store/index.ts";
import { SluiceError } from "../../errors.ts";
import { intFlag, parseCommand } from "../args.ts";
import { formatMs, formatTime, shortDigest, table } from "../format.ts";
import type { CliIo } from "../io.ts";
import { printJson, withWorkspace } from "./shared.ts";

/** Help text of `sluice ls`. */
export const LS_HELP = `Usage: sluice ls [--json]

Lists the pipelines in the workspace's pipelines/ folder with their params.

Options:
      --json           print JSON
  -w, --workspace DIR  project folder (default: current folder)
  -h, --help           show this help
`;

/** `sluice ls`. */
export async function lsCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand("ls", argv, {});
  if (values.help) {
    io.out(LS_HELP);
    return 0;
  }
  return withWorkspace(values.workspace, {}, async (ws) => {
    const all = await ws.pipelines();
    const rows = all.map((p) => {
      const props = (p.pipeline.params.properties ?? {}) as Record<string, { default?: unknown; type?: unknown }>;
      return { name: p.name, file: p.file, description: p.description ?? null, params: Object.fromEntries(Object.entries(props).map(([k, v]) => [k, { type: v.type ?? null, default: v.default ?? null }])) };
    });
    if (values.json) printJson(io, rows);
    else if (rows.length === 0) io.out("no pipelines in pipelines/\n");
    else io.out(table(["pipeline", "params", "description"], rows.map((r) => [r.name, Object.entries(r.params).map(([k, v]) => `${k}=${JSON.stringify(v.default)}`).join(" ") || "-", r.description ?? ""])) + "\n");
    return 0;
  });
}

/** Help text of `sluice runs`. */
export const RUNS_HELP = `Usage: sluice runs [--pipeline NAME] [--status STATUS] [--limit N] [--json]

Run history, newest first.

Options:
      --pipeline NAME  only this pipeline's runs
      --status STATUS  running | succeeded | failed | cancelled | interrupted
      --limit N        at most N runs (default 20)
      --json           print JSON
  -w, --workspace DIR  project folder (default: current folder)
  -h, --help           show this help
`;

const STATUSES: readonly RunStatus[] = ["running", "succeeded", "failed", "cancelled", "interrupted"];

/** `sluice runs`. */
export async function runsCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand("runs", argv, { pipeline: { type: "string" }, status: { type: "string" }, limit: { type: "string" } });
  if (values.help) {
    io.out(RUNS_HELP);
    return 0;
  }
  if (values.status !== undefined && !STATUSES.includes(values.status as RunStatus)) {
    throw new SluiceError("SLUICE_USAGE", `sluice runs: --status ${JSON.stringify(values.status)} is not one of ${STATUSES.join(", ")}.`, { field: "status" });
  }
  const limit = intFlag("runs", "limit", values.limit) ?? 20;
  return withWorkspace(values.workspace, {}, async (ws) => {
    const runs = await ws.runs.listRuns({ pipeline: values.pipeline, status: values.status as RunStatus | undefined, limit });
    if (values.json) printJson(io, runs);
    else if (runs.length === 0) io.out("no runs yet\n");
    else io.out(table(["run", "pipeline", "status", "started", "took", "trigger"], runs.map((r) => [r.id, r.pipeline, r.status, formatTime(r.startedAt), r.finishedAt ? formatMs(r.finishedAt - r.startedAt) : "-", r.trigger])) + "\n");
    return 0;
  });
}

/** Help text of `sluice show`. */
export const SHOW_HELP = `Usage: sluice show <runId|latest> [--logs] [--output STEP.PORT] [--json]

One run: params, status, and per step its status, duration, cache key and why it ran.
"latest" is the newest run.

Options:
      --logs           also print the steps' log lines
      --output STEP.PORT  print one output artifact's bytes (e.g. report.report > report.md)
      --json           print JSON (run, steps, logs, metrics)
  -w, --workspace DIR  project folder (default: current folder)
  -h, --help           show this help
`;

/** `sluice show`. */
export async function showCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand("show", argv, { logs: { type: "boolean" }, output: { type: "string" } });
  if (values.help) {
    io.out(SHOW_HELP);
    return 0;
  }
  const id = positionals[0];
  if (!id) {
    io.err(`sluice show: expected a run id (see \`sluice runs\`).\n\n${SHOW_HELP}`);
    return 2;
  }
  return withWorkspace(values.workspace, {}, async (ws) => {
    const run = id === "latest" ? (await ws.runs.listRuns({ limit: 1 }))[0] : await ws.runs.getRun(id);
    if (!run) throw new SluiceError("SLUICE_RUN_NOT_FOUND", `no run "${id}" in ${ws.config.cacheDir}. List runs with \`sluice runs\`.`, { runId: id });
    const steps = await ws.runs.listStepRuns(run.id);
    if (values.output !== undefined) {
      const [stepId, port] = values.output.split(".");
      const step = steps.find((s) => s.stepId === stepId);
      const digest = port ? step?.outputs[port] : undefined;
      if (!step || !digest) {
        const known = steps.flatMap((s) => Object.keys(s.outputs).map((p) => `${s.stepId}.${p}`));
        throw new SluiceError("SLUICE_USAGE", `sluice show: run ${run.id} has no output "${values.output}". Outputs: ${known.join(", ") || "none"}.`, { field: "output" });
      }
      const bytes = ws.cas.getBytes(digest as never);
      if (!bytes) throw new SluiceError("SLUICE_CACHE_CORRUPT", `output ${values.output} (${digest}) is no longer in the cache (pruned or corrupt). Run the pipeline again to rebuild it.`, { digest });
      io.out(bytes.toString("utf8"));
      return 0;
    }
    if (values.json) {
      printJson(io, { run, steps, logs: await ws.runs.listLogs(run.id), metrics: await ws.runs.listMetrics(run.id) });
      return 0;
    }
    io.out(`run ${run.id} · ${run.pipeline} · ${run.status}\n`);
    io.out(`started ${formatTime(run.startedAt)} by ${run.actor} (${run.trigger}) · took ${run.finishedAt ? formatMs(run.finishedAt - run.startedAt) : "-"} · code ${shortDigest(run.codeDigest)}\n`);
    io.out(`params ${JSON.stringify(run.params)}\n\n`);
    io.out(table(["step", "status", "took", "attempts", "key", "why"], steps.map((s) => [s.stepId, s.status, formatMs(s.durationMs), String(s.attempts), shortDigest(s.cacheKey), s.error ? s.error.message.split("\n")[0]! : s.reason ?? ""])) + "\n");
    if (run.error) io.out(`\n${run.error.code}: ${run.error.message}\n`);
    if (values.logs) {
      const logs = await ws.runs.listLogs(run.id);
      io.out(logs.length ? `\n${logs.map((l) => `${formatTime(l.ts)} ${l.level.padEnd(5)} ${l.stepId ?? "run"}: ${l.msg}${l.data ? ` ${JSON.stringify(l.data)}` : ""}`).join("\n")}\n` : "\nno log lines\n");
    }
    return 0;
  });
}
