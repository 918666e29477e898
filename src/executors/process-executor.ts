import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expandArgument, isCommandStep, type PortKind } from "../define/index.ts";
import { SluiceError } from "../errors.ts";
import type { Executor, ProducedOutput, StepTask } from "../scheduler/index.ts";
import type { LocalCas } from "../store/local-cas.ts";
import { cleanDeadSandboxes, defaultIsolation, handOver, killGroup, linkReadOnly, makeSandboxDir, reclaim, sandboxIds, type CommandIsolation, type SandboxIds } from "./command-sandbox.ts";

const BASE_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TZ"];
const STDERR_TAIL_BYTES = 8192;
const STDERR_TAIL_LINES = 20;

function mapValues(o: Record<string, string>, f: (v: string) => string): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));
}

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
 * an allow-list, and a non-zero exit fails the step with the tail of stderr. With `uid` isolation
 * (the default as root) each attempt runs as a fresh unprivileged user that owns only its folder,
 * so it cannot write into the cache or another step's folder. Either way, every CAS input is
 * verified after the program exits: a program that wrote into the cache fails.
 */
export class ProcessExecutor implements Executor {
  readonly kind = "process" as const;
  readonly limit: number;
  readonly worker = `process@${os.hostname()}`;
  readonly isolated = false;
  readonly #cas: LocalCas;
  readonly #env: Readonly<Record<string, string | undefined>>;
  /** Working folders still being removed. */
  readonly #removals = new Set<Promise<unknown>>();
  /** How attempts are kept apart (see CommandIsolation). */
  readonly isolation: CommandIsolation;

  constructor(cas: LocalCas, opts: { limit?: number; env?: Readonly<Record<string, string | undefined>>; isolation?: CommandIsolation } = {}) {
    this.#cas = cas;
    this.limit = opts.limit ?? os.availableParallelism();
    this.#env = opts.env ?? {};
    this.isolation = opts.isolation ?? defaultIsolation();
  }

  /** Removes working folders left by dead processes (a kill -9 mid-step); returns how many. */
  cleanDead(): number {
    return this.isolation === "uid" ? cleanDeadSandboxes() : 0;
  }

  async execute(task: StepTask): Promise<Record<string, ProducedOutput>> {
    const step = task.step;
    if (!isCommandStep(step)) throw new SluiceError("SLUICE_DEFINITION_INVALID", `step "${task.stepId}" has executor "process" but no command. Declare it with defineCommandStep().`, { step: task.stepId });
    const ids = this.isolation === "uid" ? sandboxIds() : undefined;
    const prefix = `${task.stepId.replace(/[^A-Za-z0-9_.-]/g, "_")}-`;
    const workdir = ids ? makeSandboxDir(prefix) : this.#cas.makeTempDir(prefix);
    try {
      // `in/` only for a step with inputs: each folder made costs a file creation, which on some
      // filesystems (ext4 with discard, after large deletes) takes up to 1 ms.
      const dirs = Object.keys(task.inputs).length > 0 ? ["in", "out", "tmp"] : ["out", "tmp"];
      for (const d of dirs) fs.mkdirSync(path.join(workdir, d));
      const inputs: Record<string, string> = {};
      for (const [port, input] of Object.entries(task.inputs)) inputs[port] = await this.#materialize(task, port, input.kind, input.digest, input.sourcePath, workdir, ids !== undefined);
      const outputs: Record<string, string> = {};
      for (const [port, spec] of Object.entries(step.outputs as Record<string, { kind: PortKind }>)) {
        outputs[port] = path.join(workdir, "out", port);
        if (spec.kind === "dir") fs.mkdirSync(outputs[port]!);
      }
      // The sandbox user may not traverse the folders above its own: it gets paths relative to its working folder.
      const shown = (p: string): string => (ids ? path.relative(workdir, p) : p);
      const argv = step.command.map((a) => expandArgument(a, { inputs: mapValues(inputs, shown), outputs: mapValues(outputs, shown), params: task.params, workdir: ids ? "." : workdir }));
      if (ids) handOver(workdir, ids);
      await this.#spawn(task, argv, workdir, ids);
      if (ids) {
        const links = reclaim(path.join(workdir, "out"));
        if (links.length > 0) throw new SluiceError("SLUICE_STEP_OUTPUT_INVALID", `step "${task.stepId}": the command left symbolic links in its outputs (${links.map((l) => path.relative(workdir, l)).join(", ")}). Write real files: a link could point anywhere.`, { step: task.stepId, links });
      }
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
      // Removing the folder takes a few ms (rmdir is slow on some filesystems): off the step's path, awaited by close().
      const removal = fs.promises.rm(workdir, { recursive: true, force: true }).catch(() => undefined).finally(() => this.#removals.delete(removal));
      this.#removals.add(removal);
    }
  }

  async #materialize(task: StepTask, port: string, kind: PortKind, digest: string, sourcePath: string | undefined, workdir: string, sandboxed: boolean): Promise<string> {
    if (sourcePath !== undefined) {
      if (!sandboxed) return sourcePath;
      // Sandboxed commands see workspace files through read-only links in their own folder (the name kept, for extensions).
      const dest = kind === "dir" ? path.join(workdir, "in", port) : path.join(workdir, "in", port, path.basename(sourcePath));
      if (kind !== "dir") fs.mkdirSync(path.dirname(dest), { mode: 0o755 });
      linkReadOnly(sourcePath, dest);
      return dest;
    }
    const missing = (): SluiceError => new SluiceError("SLUICE_CACHE_CORRUPT", `step "${task.stepId}" › input "${port}": object ${digest} is missing or corrupt in the cache. Run again: the producing step reruns.`, { step: task.stepId, field: port });
    if (kind === "file") {
      const object = this.#cas.filePath(digest as never) ?? (() => { throw missing(); })();
      if (!sandboxed) return object;
      const dest = path.join(workdir, "in", port);
      linkReadOnly(object, dest);
      return dest;
    }
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

  #spawn(task: StepTask, argv: string[], workdir: string, ids: SandboxIds | undefined): Promise<void> {
    const env: Record<string, string> = { TMPDIR: path.join(workdir, "tmp") };
    for (const name of BASE_ENV) if (this.#env[name] !== undefined) env[name] = this.#env[name]!;
    // The sandbox user has no home of its own: tools that write caches under $HOME write into tmp/.
    if (ids) env.HOME = env.TMPDIR!;
    for (const [name, value] of Object.entries(task.env)) if (value !== undefined) env[name] = value;
    return new Promise((resolve, reject) => {
      let stderrTail = "";
      // Its own process group, so whatever it leaves running is ended with it.
      const child = spawn(argv[0]!, argv.slice(1), { cwd: workdir, env, stdio: ["ignore", "pipe", "pipe"], detached: true, ...(ids ?? {}) });
      const out = lineLogger((l) => task.onLog("info", l));
      const err = lineLogger((l) => task.onLog("warn", l));
      child.stdout.on("data", (c: Buffer) => out.push(c));
      child.stderr.on("data", (c: Buffer) => {
        err.push(c);
        stderrTail = (stderrTail + c.toString("utf8")).slice(-STDERR_TAIL_BYTES);
      });
      let forceKill: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        child.kill("SIGTERM");
        forceKill = setTimeout(() => killGroup(child.pid), 2000).unref();
      };
      task.signal.addEventListener("abort", onAbort, { once: true });
      child.on("error", (e) => {
        task.signal.removeEventListener("abort", onAbort);
        reject(new SluiceError("SLUICE_STEP_FAILED", `could not start ${JSON.stringify(argv[0])}: ${e.message}. Is it installed and on PATH?`, { step: task.stepId, command: argv }));
      });
      child.on("close", (code, signal) => {
        task.signal.removeEventListener("abort", onAbort);
        clearTimeout(forceKill); // the group is ended now; later that pid may belong to someone else
        killGroup(child.pid);
        out.end();
        err.end();
        if (code === 0) return resolve();
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const tail = stderrTail.trim().split("\n").slice(-STDERR_TAIL_LINES).join("\n");
        reject(new SluiceError("SLUICE_STEP_FAILED", `command ${how}: ${argv.join(" ")}${tail ? `\n--- stderr (last lines) ---\n${tail}` : ""}`, { step: task.stepId, exitCode: code, signal }));
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.#removals]);
  }
}
