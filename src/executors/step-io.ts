import fs from "node:fs";
import path from "node:path";
import type { AnyStep, ModelsClient, PortKind, StepContext } from "../define/index.ts";
import { SluiceError } from "../errors.ts";
import type { ProducedOutput, ResolvedInput, StepTask } from "../scheduler/index.ts";
import type { LocalCas } from "../store/local-cas.ts";
import { canonicalJson } from "../util/canonical-json.ts";
import { decodeTable, encodeTable, type Table } from "../artifacts/index.ts";

function isTable(v: unknown): v is Table {
  return typeof v === "object" && v !== null && Array.isArray((v as Table).columns) && typeof (v as Table).numRows === "number";
}

/** Arrow bytes returned directly are checked (and re-encoded, so equal tables get equal digests). */
function decodeTableCheck(bytes: Uint8Array, task: StepBodyTask, port: string): Uint8Array {
  return encodeTable(decodeTable(bytes, `step "${task.stepId}" › output "${port}"`));
}

/** The parts of a task a step body needs (a thread worker rebuilds it from plain data). */
export type StepBodyTask = Pick<StepTask, "runId" | "stepId" | "attempt" | "params" | "inputs" | "env" | "signal" | "onLog" | "onMetric" | "models">;

const NO_MODELS = new Proxy({} as ModelsClient, {
  get: () => () => Promise.reject(new SluiceError("SLUICE_CONFIG_INVALID", "this run has no model registry (steps run through Workspace.run have one).")),
});

function missing(task: StepBodyTask, port: string, input: ResolvedInput): SluiceError {
  return new SluiceError("SLUICE_CACHE_CORRUPT", `step "${task.stepId}" › input "${port}": object ${input.digest} is missing or corrupt in the cache. Run again: the producing step reruns.`, { step: task.stepId, field: port, digest: input.digest });
}

async function materialize(cas: LocalCas, task: StepBodyTask, port: string, input: ResolvedInput, scratch: () => string): Promise<unknown> {
  if (input.sourcePath !== undefined) return input.sourcePath;
  switch (input.kind) {
    case "json": {
      const bytes = cas.getBytes(input.digest);
      if (!bytes) throw missing(task, port, input);
      return JSON.parse(bytes.toString("utf8"));
    }
    case "table": {
      const bytes = cas.getBytes(input.digest);
      if (!bytes) throw missing(task, port, input);
      return decodeTable(bytes, `step "${task.stepId}" › input "${port}"`);
    }
    case "file": {
      const p = cas.filePath(input.digest);
      if (!p) throw missing(task, port, input);
      return p;
    }
    case "dir": {
      const dest = path.join(scratch(), `in-${port}`);
      await cas.materializeDir(input.digest, dest);
      return dest;
    }
    default: {
      const never: never = input.kind;
      throw new Error(`unknown port kind ${String(never)}`);
    }
  }
}

function badOutput(task: StepBodyTask, port: string, want: string, got: unknown): SluiceError {
  const gotText = got === undefined ? "nothing" : got === null ? "null" : Array.isArray(got) ? "an array" : typeof got;
  return new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `step "${task.stepId}" › output "${port}": expected ${want}, got ${gotText}. Return it from run().`, { step: task.stepId, field: port });
}

async function produce(cas: LocalCas, task: StepBodyTask, port: string, kind: PortKind, value: unknown, outDir: string | undefined): Promise<ProducedOutput> {
  const isPath = (v: unknown): v is { path: string } => typeof v === "object" && v !== null && typeof (v as { path?: unknown }).path === "string";
  const inOutDir = (p: string): boolean => outDir !== undefined && path.resolve(p).startsWith(outDir + path.sep);
  switch (kind) {
    case "json":
      if (value === undefined) throw badOutput(task, port, "a JSON value", value);
      return { bytes: Buffer.from(canonicalJson(value), "utf8") };
    case "table":
      if (value instanceof Uint8Array) return { bytes: decodeTableCheck(value, task, port) };
      if (!isTable(value)) throw badOutput(task, port, "a Table (createTable(...)) or Arrow IPC bytes", value);
      return { bytes: encodeTable(value) };
    case "file":
      if (value instanceof Uint8Array) return { bytes: value };
      if (!isPath(value)) throw badOutput(task, port, "{ path } of a file it wrote, or bytes", value);
      if (!fs.existsSync(value.path) || !fs.statSync(value.path).isFile()) throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `step "${task.stepId}" › output "${port}": ${value.path} is not a file. Write it (under ctx.outDir) before returning.`, { step: task.stepId, field: port, path: value.path });
      return { digest: (await cas.putFile(value.path, { move: inOutDir(value.path) })).digest };
    case "dir":
      if (!isPath(value)) throw badOutput(task, port, "{ path } of a folder it wrote", value);
      if (!fs.existsSync(value.path) || !fs.statSync(value.path).isDirectory()) throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `step "${task.stepId}" › output "${port}": ${value.path} is not a folder. Create it (under ctx.outDir) before returning.`, { step: task.stepId, field: port, path: value.path });
      return { digest: (await cas.putDir(value.path, { move: inOutDir(value.path) })).digest };
    default: {
      const never: never = kind;
      throw new Error(`unknown port kind ${String(never)}`);
    }
  }
}

/**
 * Runs one attempt of a step body: materialises inputs from the CAS, calls `run`, checks the
 * outputs against the declared ports and stores files and folders. Small values come back as
 * bytes for the coordinator to commit with the cache entry.
 */
export async function runStepBody(step: AnyStep, task: StepBodyTask, cas: LocalCas): Promise<Record<string, ProducedOutput>> {
  let scratchDir: string | undefined;
  const scratch = (): string => (scratchDir ??= cas.makeTempDir(`${task.stepId}-`));
  try {
    const inputs: Record<string, unknown> = {};
    for (const [port, input] of Object.entries(task.inputs)) inputs[port] = await materialize(cas, task, port, input, scratch);
    let outDir: string | undefined;
    const ctx: StepContext<any, any> = {
      params: task.params,
      inputs,
      get outDir() {
        if (outDir === undefined) {
          outDir = path.join(scratch(), "out");
          fs.mkdirSync(outDir);
        }
        return outDir;
      },
      signal: task.signal,
      runId: task.runId,
      stepId: task.stepId,
      attempt: task.attempt,
      env: task.env,
      inputDigests: Object.fromEntries(Object.entries(task.inputs).map(([p, i]) => [p, i.digest])),
      models: task.models ?? NO_MODELS,
      log: (level, msg, data) => task.onLog(level, msg, data),
      metric: (name, value, x) => task.onMetric(name, value, x),
    };
    const result = (await step.run(ctx)) as Record<string, unknown> | undefined;
    const declared = step.outputs as Record<string, { kind: PortKind }>;
    if (Object.keys(declared).length > 0 && (typeof result !== "object" || result === null)) {
      throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `step "${task.stepId}": run() returned ${result === undefined ? "nothing" : typeof result}; return an object with outputs ${Object.keys(declared).join(", ")}.`, { step: task.stepId });
    }
    const extra = Object.keys(result ?? {}).filter((k) => !(k in declared));
    if (extra.length > 0) {
      throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `step "${task.stepId}": run() returned undeclared output${extra.length > 1 ? "s" : ""} ${extra.join(", ")}. Declare ${extra.length > 1 ? "them" : "it"} in outputs or drop ${extra.length > 1 ? "them" : "it"}.`, { step: task.stepId, field: extra[0] });
    }
    const produced: Record<string, ProducedOutput> = {};
    for (const [port, spec] of Object.entries(declared)) produced[port] = await produce(cas, task, port, spec.kind, result?.[port], outDir);
    return produced;
  } finally {
    if (scratchDir !== undefined) fs.rmSync(scratchDir, { recursive: true, force: true });
  }
}
