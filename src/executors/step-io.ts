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

/** A json or table output: stored as bytes, with no I/O (the common case of small steps). */
function produceBytes(task: StepBodyTask, port: string, kind: "json" | "table", value: unknown): ProducedOutput {
  if (kind === "json") {
    if (value === undefined) throw badOutput(task, port, "a JSON value", value);
    return { bytes: Buffer.from(canonicalJson(value), "utf8") };
  }
  if (value instanceof Uint8Array) return { bytes: decodeTableCheck(value, task, port) };
  if (!isTable(value)) throw badOutput(task, port, "a Table (createTable(...)) or Arrow IPC bytes", value);
  return { bytes: encodeTable(value) };
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

/**
 * What `run` receives. A class: `outDir` and `models` are getters on its prototype (an object
 * literal with getters is built slowly, once per attempt); `log` and `metric` are own functions,
 * so a step may destructure them.
 */
class BodyContext implements StepContext<any, any> {
  readonly params: Readonly<Record<string, unknown>>;
  readonly signal: AbortSignal;
  readonly runId: string;
  readonly stepId: string;
  readonly attempt: number;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly inputDigests: Record<string, string> = {};
  readonly log: StepContext<any, any>["log"];
  readonly metric: StepContext<any, any>["metric"];
  readonly #a: Attempt;

  constructor(a: Attempt, readonly inputs: Record<string, unknown>) {
    const task = a.task;
    this.#a = a;
    this.params = task.params;
    this.signal = task.signal;
    this.runId = task.runId;
    this.stepId = task.stepId;
    this.attempt = task.attempt;
    this.env = task.env;
    for (const port in task.inputs) this.inputDigests[port] = task.inputs[port]!.digest;
    this.log = (level, msg, data) => task.onLog(level, msg, data);
    this.metric = (name, value, x) => task.onMetric(name, value, x);
  }

  get outDir(): string {
    return this.#a.makeOutDir();
  }

  /** Read on use: a registry client is only made for a step that asks for it. */
  get models(): ModelsClient {
    return this.#a.task.models ?? NO_MODELS;
  }
}

/** One attempt's state: its scratch folder (made on first use) and its context. */
class Attempt {
  scratchDir: string | undefined;
  outDir: string | undefined;
  constructor(
    readonly step: AnyStep,
    readonly task: StepBodyTask,
    readonly cas: LocalCas,
  ) {}

  scratch(): string {
    return (this.scratchDir ??= this.cas.makeTempDir(`${this.task.stepId}-`));
  }

  cleanup(): void {
    if (this.scratchDir !== undefined) fs.rmSync(this.scratchDir, { recursive: true, force: true });
  }

  /** The inputs, if none needs I/O to materialise (no folder input); otherwise undefined. */
  inputsNow(): Record<string, unknown> | undefined {
    const inputs: Record<string, unknown> = {};
    const all = this.task.inputs;
    for (const port in all) {
      const input = all[port]!;
      if (input.sourcePath === undefined && input.kind === "dir") return undefined;
      inputs[port] = materializeNow(this.cas, this.task, port, input);
    }
    return inputs;
  }

  async inputsLater(): Promise<Record<string, unknown>> {
    const inputs: Record<string, unknown> = {};
    for (const [port, input] of Object.entries(this.task.inputs)) inputs[port] = await materialize(this.cas, this.task, port, input, () => this.scratch());
    return inputs;
  }

  context(inputs: Record<string, unknown>): StepContext<any, any> {
    return new BodyContext(this, inputs);
  }

  /** The attempt's output folder, made on first use. */
  makeOutDir(): string {
    if (this.outDir === undefined) {
      this.outDir = path.join(this.scratch(), "out");
      fs.mkdirSync(this.outDir);
    }
    return this.outDir;
  }

  /** Checks run()'s result against the declared outputs; returns it as a record of port values. */
  #checked(result: unknown): Record<string, unknown> {
    const { task } = this;
    const declared = this.step.outputs as Record<string, { kind: PortKind }>;
    const r = (result ?? {}) as Record<string, unknown>;
    if (typeof result !== "object" || result === null) {
      const names = Object.keys(declared);
      if (names.length > 0) throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `step "${task.stepId}": run() returned ${result === undefined ? "nothing" : typeof result}; return an object with outputs ${names.join(", ")}.`, { step: task.stepId });
      return r;
    }
    for (const k in r) {
      if (!(k in declared)) {
        const extra = Object.keys(r).filter((x) => !(x in declared));
        throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `step "${task.stepId}": run() returned undeclared output${extra.length > 1 ? "s" : ""} ${extra.join(", ")}. Declare ${extra.length > 1 ? "them" : "it"} in outputs or drop ${extra.length > 1 ? "them" : "it"}.`, { step: task.stepId, field: extra[0] });
      }
    }
    return r;
  }

  /** The outputs, if every declared port is json or table (no I/O); otherwise undefined. */
  outputsNow(result: unknown): Record<string, ProducedOutput> | undefined {
    const declared = this.step.outputs as Record<string, { kind: PortKind }>;
    for (const port in declared) if (declared[port]!.kind !== "json" && declared[port]!.kind !== "table") return undefined;
    const r = this.#checked(result);
    const produced: Record<string, ProducedOutput> = {};
    for (const port in declared) produced[port] = produceBytes(this.task, port, declared[port]!.kind as "json" | "table", r[port]);
    return produced;
  }

  async outputsLater(result: unknown): Promise<Record<string, ProducedOutput>> {
    const now = this.outputsNow(result);
    if (now) return now;
    const r = this.#checked(result);
    const declared = this.step.outputs as Record<string, { kind: PortKind }>;
    const produced: Record<string, ProducedOutput> = {};
    for (const [port, spec] of Object.entries(declared)) produced[port] = await produce(this.cas, this.task, port, spec.kind, r[port], this.outDir);
    return produced;
  }

  async later(inputs: Record<string, unknown> | undefined, result: unknown): Promise<Record<string, ProducedOutput>> {
    try {
      if (inputs === undefined) result = this.step.run(this.context(await this.inputsLater()));
      return await this.outputsLater(await result);
    } finally {
      this.cleanup();
    }
  }
}

/** Materialises an input that needs no I/O beyond reading the CAS (anything but a folder). */
function materializeNow(cas: LocalCas, task: StepBodyTask, port: string, input: ResolvedInput): unknown {
  if (input.sourcePath !== undefined) return input.sourcePath;
  const bytes = input.kind === "file" ? undefined : cas.getBytes(input.digest);
  switch (input.kind) {
    case "json":
      if (!bytes) throw missing(task, port, input);
      return JSON.parse(bytes.toString("utf8"));
    case "table":
      if (!bytes) throw missing(task, port, input);
      return decodeTable(bytes, `step "${task.stepId}" › input "${port}"`);
    default: {
      const p = cas.filePath(input.digest);
      if (!p) throw missing(task, port, input);
      return p;
    }
  }
}

/**
 * Runs one attempt of a step body: materialises inputs from the CAS, calls `run`, checks the
 * outputs against the declared ports and stores files and folders. Small values come back as
 * bytes for the coordinator to commit with the cache entry. A synchronous step with json and
 * table ports runs without a single await (most of a 10,000-step run of small steps).
 */
export function runStepBody(step: AnyStep, task: StepBodyTask, cas: LocalCas): Promise<Record<string, ProducedOutput>> {
  const a = new Attempt(step, task, cas);
  let handedOver = false;
  try {
    const inputs = a.inputsNow();
    if (inputs === undefined) {
      handedOver = true;
      return a.later(undefined, undefined);
    }
    const result = step.run(a.context(inputs));
    if (!isThenable(result)) {
      const produced = a.outputsNow(result);
      if (produced) return Promise.resolve(produced);
    }
    handedOver = true;
    return a.later(inputs, result);
  } catch (err) {
    return Promise.reject(err);
  } finally {
    if (!handedOver) a.cleanup();
  }
}
