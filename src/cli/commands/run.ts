import { ERROR_CODES, isErrorCode } from "../../errors.ts";
import { formatChange } from "../../hash/explain.ts";
import type { RunSummary } from "../../scheduler/index.ts";
import { intFlag, parseCommand, parseParamFlags } from "../args.ts";
import { shortDigest, table } from "../format.ts";
import type { CliIo } from "../io.ts";
import { ProgressView } from "../progress.ts";
import { printJson, withWorkspace } from "./shared.ts";

/** Help text of `sluice run`. */
export const RUN_HELP = `Usage: sluice run <pipeline> [options]
       sluice run --resume <runId> [options]
       npm run pipeline -- <pipeline> [options]

Runs a pipeline. Steps whose cache key (code, params, input contents, env) is unchanged are not
run again: their recorded outputs are reused.

Options:
  -p, --param NAME=VALUE  set a pipeline param (repeatable; dotted names nest)
      --force STEP        rerun STEP even if cached (repeatable)
      --force-all         rerun every step
      --dry-run           show what would run and why; run nothing
      --keep-going        after a failure, still run every branch that does not depend on it
      --resume RUNID      rerun a failed, cancelled or interrupted run with the same params:
                          finished steps are hits; says which steps' code changed since
      --concurrency N     most steps running at once (default: 4 x cores)
      --json              print one JSON object on stdout: runId, pipeline, status, steps
  -w, --workspace DIR     project folder (default: current folder)
  -h, --help              show this help

Exit codes: 0 succeeded, 1 a step failed, 2 definition/config/usage error, 130 interrupted.
`;

/** Exit code of a finished run. */
export function exitCodeOf(s: RunSummary): number {
  if (s.status === "succeeded") return 0;
  if (s.status === "cancelled") return 130;
  if (s.steps.some((x) => x.status === "failed")) return 1;
  const code = s.error?.code ?? "SLUICE_INTERNAL";
  return isErrorCode(code) ? ERROR_CODES[code].exit : 1;
}

/** `sluice run`. */
export async function runCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand("run", argv, {
    param: { type: "string", short: "p", multiple: true },
    force: { type: "string", multiple: true },
    "force-all": { type: "boolean" },
    "dry-run": { type: "boolean" },
    concurrency: { type: "string" },
    "keep-going": { type: "boolean" },
    resume: { type: "string" },
  });
  if (values.help) {
    io.out(RUN_HELP);
    return 0;
  }
  const name = positionals[0];
  const resume = values.resume;
  if ((!name && !resume) || positionals.length > 1 || (name && resume)) {
    io.err(`sluice run: expected one pipeline name or --resume RUNID${positionals.length > 1 ? `, got ${positionals.join(" ")}` : ""}.\n\n${RUN_HELP}`);
    return 2;
  }
  if (resume && values.param?.length) {
    io.err("sluice run: --resume reruns with the run's own params; drop --param (or start a new run).\n");
    return 2;
  }
  const concurrency = intFlag("run", "concurrency", values.concurrency);
  return withWorkspace(values.workspace, concurrency ? { concurrency } : {}, async (ws) => {
    let info;
    let params: Record<string, unknown>;
    if (resume) {
      const r = await ws.planResume(resume);
      info = r.info;
      params = r.params;
      if (!values.json) {
        io.err(`resuming run ${r.from.id} of ${r.from.pipeline} (${r.from.status}) with params ${JSON.stringify(params)}\n`);
        if (r.changedFiles.length > 0) io.err(`code changed since: ${r.changedFiles.join(", ")}\nsteps affected (they rerun): ${r.affectedSteps.join(", ") || "none"}\n`);
      }
    } else {
      info = await ws.load(name!);
      params = parseParamFlags(values.param ?? [], info.pipeline.params, "run");
    }
    const force = values["force-all"] ? "all" : values.force?.length ? new Set(values.force) : undefined;
    if (values["dry-run"]) {
      const steps = await ws.preview(info, params, force);
      if (values.json) printJson(io, { pipeline: info.name, dryRun: true, steps });
      else {
        const would = { cached: "use cache", run: "run", skipped: "skip", unknown: "run?" } as const;
        io.out(table(["step", "would", "why"], steps.map((s) => [s.id, would[s.decision], s.reason])) + "\n");
        const n = steps.filter((s) => s.decision !== "cached").length;
        io.out(`${steps.length - n} cached · ${n} to run (steps marked run? run only if their inputs change)\n`);
      }
      return 0;
    }
    const progress = values.json ? undefined : new ProgressView(io);
    const abort = new AbortController();
    let interrupts = 0;
    const onSigint = (): void => {
      interrupts++;
      if (interrupts === 1) {
        io.err("\ninterrupted: stopping running steps (Ctrl-C again to quit at once)\n");
        abort.abort();
      } else process.exit(130);
    };
    process.on("SIGINT", onSigint);
    try {
      const summary = await ws.run(info, { params, force, concurrency, signal: abort.signal, onEvent: progress?.onEvent, trigger: "cli", keepGoing: values["keep-going"] });
      if (values.json) {
        printJson(io, { runId: summary.runId, pipeline: summary.pipeline, status: summary.status, steps: summary.steps, ...(summary.error ? { error: summary.error } : {}) });
      } else if (summary.error) {
        io.err(`${summary.error.code}: ${summary.error.message}\n`);
      }
      return exitCodeOf(summary);
    } finally {
      progress?.stop();
      process.off("SIGINT", onSigint);
    }
  });
}

/** Help text of `sluice explain`. */
export const EXPLAIN_HELP = `Usage: sluice explain <pipeline> [--param NAME=VALUE]... [--json]

For each step: would it be a cache hit, and for a miss, exactly what changed since the newest
earlier entry of the same step: a code file, a param path (old → new), an input digest, a
package version, an env variable.

Options:
  -p, --param NAME=VALUE  pipeline param, as for run (repeatable)
      --json              print JSON
  -w, --workspace DIR     project folder (default: current folder)
  -h, --help              show this help
`;

/** `sluice explain`. */
export async function explainCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand("explain", argv, { param: { type: "string", short: "p", multiple: true } });
  if (values.help) {
    io.out(EXPLAIN_HELP);
    return 0;
  }
  const name = positionals[0];
  if (!name || positionals.length > 1) {
    io.err(`sluice explain: expected one pipeline name.\n\n${EXPLAIN_HELP}`);
    return 2;
  }
  return withWorkspace(values.workspace, {}, async (ws) => {
    const info = await ws.load(name);
    const steps = await ws.preview(info, parseParamFlags(values.param ?? [], info.pipeline.params, "explain"));
    if (values.json) {
      printJson(io, { pipeline: name, steps });
      return 0;
    }
    for (const s of steps) {
      if (s.decision === "cached") io.out(`${s.id}: hit${s.key ? ` (${shortDigest(s.key)})` : `: ${s.reason}`}\n`);
      else if (s.decision === "skipped") io.out(`${s.id}: skipped: ${s.reason}\n`);
      else if (s.decision === "unknown") io.out(`${s.id}: depends on a step that must run first (${s.reason})\n`);
      else if (s.changes.length === 0) io.out(`${s.id}: miss: ${s.reason}\n`);
      else {
        io.out(`${s.id}: miss${s.key ? ` (${shortDigest(s.key)})` : ""}, changed since the last entry:\n`);
        for (const c of s.changes) io.out(`    ${formatChange(c)}\n`);
      }
    }
    return 0;
  });
}
