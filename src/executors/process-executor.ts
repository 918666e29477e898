import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expandArgument, isCommandStep, type PortKind } from "../define/index.ts";
import { SluiceError } from "../errors.ts";
import type { Executor, ProducedOutput, StepTask } from "../scheduler/index.ts";
import type { LocalCas } from "../store/local-cas.ts";

const BASE_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TZ"];
const STDERR_TAIL_BYTES = 8192;
const STDERR_TAIL_LINES = 20;

/** Streams a child's output into the step log, one line at a time. */
function lineLogger(emit: (line: string) => void): { push(chunk: Buffer): void; end(): void } {
  let rest = "";
  return {
    push(chunk) {
      const text = rest + chunk.toString("utf8");
      const lines = text.split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) if (l.length > 0) emit(l);
    },
    end() {
      if (rest.length > 0) emit(rest);
      rest = "";
    },
  };
}

/**
 * Runs command steps: any program, in a fresh working folder per attempt. Inputs are given as
 * read-only paths (CAS objects, or files written for JSON and table inputs), outputs are collected
 * from the declared paths into the CAS, stdout and stderr go to the step log, the environment is
 * an allow-list, and a non-zero exit fails the step with the tail of stderr. After the program
 * exits, every CAS input is verified: a program that wrote into the cache fails.
 */
export class ProcessExecutor implements Executor {
  readonly kind = "process" as const;
  readonly limit: number;
  readonly worker = `process@${os.hostname()}`;
  readonly isolated = false;
  readonly #cas: LocalCas;
  readonly #env: Readonly<Record<string, string | undefined>>;

  constructor(cas: LocalCas, opts: { limit?: number; env?: Readonly<Record<string, string | undefined>> } = {}) {
    this.#cas = cas;
    this.limit = opts.limit ?? os.availableParallelism();
    this.#env = opts.env ?? {};
  }

  async execute(task: StepTask): Promise<Record<string, ProducedOutput>> {
    const step = task.step;
    if (!isCommandStep(step)) throw new SluiceError("SLUICE_DEFINITION_INVALID", `step "${task.stepId}" has executor "process" but no command. Declare it with defineCommandStep().`, { step: task.stepId });
    const workdir = this.#cas.makeTempDir(`${task.stepId.replace(/[^A-Za-z0-9_.-]/g, "_")}-`);
    try {
      for (const d of ["in", "out", "tmp"]) fs.mkdirSync(path.join(workdir, d));
      const inputs: Record<string, string> = {};
      for (const [port, input] of Object.entries(task.inputs)) inputs[port] = await this.#materialize(task, port, input.kind, input.digest, input.sourcePath, workdir);
      const outputs: Record<string, string> = {};
      for (const [port, spec] of Object.entries(step.outputs as Record<string, { kind: PortKind }>)) {
        outputs[port] = path.join(workdir, "out", port);
        if (spec.kind === "dir") fs.mkdirSync(outputs[port]!);
      }
      const argv = step.command.map((a) => expandArgument(a, { inputs, outputs, params: task.params, workdir }));
      await this.#spawn(task, argv, workdir);
      for (const [port, input] of Object.entries(task.inputs)) {
        if (input.sourcePath === undefined && input.kind !== "json" && this.#cas.check(input.digest) !== "ok") {
          // Reading a corrupt object moves it to quarantine, so the next run rebuilds it.
          try {
            this.#cas.getBytes(input.digest);
          } catch {
            // expected: SLUICE_CACHE_CORRUPT
          }
          throw new SluiceError("SLUICE_STEP_FAILED", `step "${task.stepId}" › input "${port}": the command changed its read-only input (${input.digest}); steps must never write into the cache. The object was quarantined; it is rebuilt on the next run.`, { step: task.stepId, field: port });
        }
      }
      const produced: Record<string, ProducedOutput> = {};
      for (const [port, spec] of Object.entries(step.outputs as Record<string, { kind: PortKind }>)) produced[port] = await this.#collect(task, port, spec.kind, outputs[port]!);
      return produced;
    } finally {
      fs.rmSync(workdir, { recursive: true, force: true });
    }
  }

  async #materialize(task: StepTask, port: string, kind: PortKind, digest: string, sourcePath: string | undefined, workdir: string): Promise<string> {
    if (sourcePath !== undefined) return sourcePath;
    const missing = (): SluiceError => new SluiceError("SLUICE_CACHE_CORRUPT", `step "${task.stepId}" › input "${port}": object ${digest} is missing or corrupt in the cache. Run again: the producing step reruns.`, { step: task.stepId, field: port });
    if (kind === "file") return this.#cas.filePath(digest as never) ?? (() => { throw missing(); })();
    if (kind === "dir") {
      const dest = path.join(workdir, "in", port);
      await this.#cas.materializeDir(digest as never, dest);
      return dest;
    }
    const bytes = this.#cas.getBytes(digest as never);
    if (!bytes) throw missing();
    const file = path.join(workdir, "in", `${port}.${kind === "json" ? "json" : "arrow"}`);
    fs.writeFileSync(file, bytes, { mode: 0o444 });
    return file;
  }

  async #collect(task: StepTask, port: string, kind: PortKind, p: string): Promise<ProducedOutput> {
    const where = `step "${task.stepId}" › output "${port}"`;
    if (!fs.existsSync(p)) throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `${where}: the command exited 0 but did not write ${p}. Write the declared output at {outputs.${port}}.`, { step: task.stepId, field: port, path: p });
    const st = fs.statSync(p);
    if (kind === "dir") {
      if (!st.isDirectory()) throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `${where}: ${p} is not a folder.`, { step: task.stepId, field: port });
      return { digest: (await this.#cas.putDir(p, { move: true })).digest };
    }
    if (!st.isFile()) throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `${where}: ${p} is not a file.`, { step: task.stepId, field: port });
    if (kind === "file") return { digest: (await this.#cas.putFile(p, { move: true })).digest };
    const bytes = fs.readFileSync(p);
    if (kind === "json") {
      try {
        JSON.parse(bytes.toString("utf8"));
      } catch (err) {
        throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `${where}: ${p} is not valid JSON (${(err as Error).message}).`, { step: task.stepId, field: port });
      }
    }
    return { bytes };
  }

  #spawn(task: StepTask, argv: string[], workdir: string): Promise<void> {
    const env: Record<string, string> = { TMPDIR: path.join(workdir, "tmp") };
    for (const name of BASE_ENV) if (this.#env[name] !== undefined) env[name] = this.#env[name]!;
    for (const [name, value] of Object.entries(task.env)) if (value !== undefined) env[name] = value;
    return new Promise((resolve, reject) => {
      let stderrTail = "";
      const child = spawn(argv[0]!, argv.slice(1), { cwd: workdir, env, stdio: ["ignore", "pipe", "pipe"] });
      const out = lineLogger((l) => task.onLog("info", l));
      const err = lineLogger((l) => task.onLog("warn", l));
      child.stdout.on("data", (c: Buffer) => out.push(c));
      child.stderr.on("data", (c: Buffer) => {
        err.push(c);
        stderrTail = (stderrTail + c.toString("utf8")).slice(-STDERR_TAIL_BYTES);
      });
      const onAbort = (): void => {
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 2000).unref();
      };
      task.signal.addEventListener("abort", onAbort, { once: true });
      child.on("error", (e) => {
        task.signal.removeEventListener("abort", onAbort);
        reject(new SluiceError("SLUICE_STEP_FAILED", `could not start ${JSON.stringify(argv[0])}: ${e.message}. Is it installed and on PATH?`, { step: task.stepId, command: argv }));
      });
      child.on("close", (code, signal) => {
        task.signal.removeEventListener("abort", onAbort);
        out.end();
        err.end();
        if (code === 0) return resolve();
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const tail = stderrTail.trim().split("\n").slice(-STDERR_TAIL_LINES).join("\n");
        reject(new SluiceError("SLUICE_STEP_FAILED", `command ${how}: ${argv.join(" ")}${tail ? `\n--- stderr (last lines) ---\n${tail}` : ""}`, { step: task.stepId, exitCode: code, signal }));
      });
    });
  }

  async close(): Promise<void> {}
}
