import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ResolvedConfig } from "../config/index.ts";
import { isPipeline, type AnyPipeline } from "../define/index.ts";
import { SluiceError } from "../errors.ts";
import { InlineExecutor } from "../executors/inline-executor.ts";
import { ProcessExecutor } from "../executors/process-executor.ts";
import type { ThreadExecutor } from "../executors/thread-executor.ts";
import type { RemoteExecutor } from "../executors/remote/index.ts";
import { buildPlan, type Plan } from "../graph/index.ts";
import { CodeFingerprinter } from "../hash/code-fingerprint.ts";
import { createSqliteFingerprintMemo } from "../hash/fingerprint-memo.ts";
import { fanOut, previewRun, RunCoordinator, RunRecorder, type CacheServices, type EventSink, type RunSummary, type StepPreview } from "../scheduler/index.ts";
import { ActionCache } from "../store/action-cache.ts";
import { GroupCommit, openCacheDb, type CacheDb } from "../store/cache-db.ts";
import { watchWal, type WalWatch } from "../store/wal-checkpointer.ts";
import { Claims, isProcessAlive } from "../store/claims.ts";
import { INLINE_MAX_BYTES, LocalCas } from "../store/local-cas.ts";
import { openRemoteCache, type RemoteCache } from "../store/remote-cache/index.ts";
import { prefetchFromRemote } from "./remote-prefetch.ts";
import { createPostgresStores, createSqliteStores, type ModelRegistry, type ModelVersion, type RunRecord, type RunStore, type ScheduleLedger, type Trigger } from "../store/run-store/index.ts";
import type { ModelsClient, ModelVersionInfo } from "../define/index.ts";
import type { AttemptContext } from "../scheduler/index.ts";
import { StatCache } from "../store/stat-cache.ts";
import { sortableId } from "../util/sortable-id.ts";
import { TsImporter } from "../util/ts-import.ts";
import type { Digest } from "../util/canonical-json.ts";
import { deferredLogger, type Logger } from "../log.ts";

/** A pipeline file found in `pipelines/`. */
export interface PipelineInfo {
  readonly name: string;
  readonly file: string;
  readonly description: string | undefined;
  readonly pipeline: AnyPipeline;
}

/** Options of one run. */
export interface RunOptions {
  /** Raw pipeline params (validated against the pipeline's schema). */
  readonly params?: Record<string, unknown>;
  readonly force?: ReadonlySet<string> | "all";
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  /** Receives every event of the run (progress views, streams). */
  readonly onEvent?: EventSink;
  readonly trigger?: Trigger;
  readonly actor?: string;
  /** Called with the coordinator once the run has an id (to cancel it from outside). */
  readonly onStart?: (runId: string, coordinator: RunCoordinator) => void;
  /** After a failure, run every branch that does not depend on it. */
  readonly keepGoing?: boolean;
  /** Cores and memory (MiB) running steps may claim together (default: this machine's). */
  readonly budget?: { readonly cpu: number; readonly memoryMb: number };
}

/** What resuming a run will do: the same pipeline and params, and what changed in the code since. */
export interface ResumePlan {
  readonly info: PipelineInfo;
  readonly params: Record<string, unknown>;
  readonly from: RunRecord;
  /** Workspace files whose code changed since the run (empty when unchanged or unknown). */
  readonly changedFiles: readonly string[];
  /** Steps whose code fingerprint includes a changed file: they rerun even if they had finished. */
  readonly affectedSteps: readonly string[];
}

/** A sortable run id: time first, then randomness. */
export function newRunId(now = Date.now()): string {
  return sortableId("r", now);
}

const PIPELINE_FILE = /^[^_.][^/]*\.(ts|mts|js|mjs)$/;

/**
 * A project folder with `pipelines/` and its store: finds and loads pipelines, plans and runs
 * them, and owns the stores (opened once, closed by `close`).
 */
export class Workspace {
  readonly config: ResolvedConfig;
  readonly db: CacheDb;
  readonly cas: LocalCas;
  readonly statCache: StatCache;
  readonly actionCache: ActionCache;
  /** The shared cache server behind `cas` and `actionCache`, when one is configured. */
  readonly remoteCache: RemoteCache | undefined;
  readonly runs: RunStore;
  /** Registered model versions and endpoint deployments (same database as the runs). */
  readonly models: ModelRegistry;
  /** Fire times of the pipelines' cron schedules (same database as the runs). */
  readonly fires: ScheduleLedger;
  readonly #closeStores: () => Promise<void>;
  readonly fingerprinter: CodeFingerprinter;
  readonly commits: GroupCommit;
  readonly #clock: () => number;
  readonly #importer: TsImporter;
  readonly #log: Logger;
  #threads: ThreadExecutor | undefined;
  #remote: RemoteExecutor | undefined;
  #inline: InlineExecutor;
  #process: ProcessExecutor;
  /** Hands the cache database's WAL checkpoints to a helper thread. */
  readonly #wal: WalWatch;
  #pipelines: Map<string, PipelineInfo> | undefined;

  private constructor(config: ResolvedConfig, db: CacheDb, stores: { runs: RunStore; models: ModelRegistry; fires: ScheduleLedger; close(): Promise<void> }, clock: () => number, log: Logger) {
    this.config = config;
    const runs = stores.runs;
    this.models = stores.models;
    this.fires = stores.fires;
    this.#closeStores = () => stores.close();
    this.#log = log.child({ component: "workspace", root: config.root });
    this.db = db;
    this.runs = runs;
    this.#clock = clock;
    // Read-through, write-through: the local cache answers first; misses ask the shared server.
    const remote = config.remoteCache && openRemoteCache(config.remoteCache, { tmpDir: path.join(config.cacheDir, "tmp"), inlineMaxBytes: INLINE_MAX_BYTES }, this.#log);
    this.remoteCache = remote;
    this.cas = new LocalCas({ dir: config.cacheDir, db, remote });
    remote?.bind(this.cas);
    this.statCache = new StatCache(db);
    this.#wal = watchWal(db, db.name);
    this.commits = new GroupCommit(db, { afterCommit: () => {
      this.cas.committed();
      this.#wal.committed();
    } });
    this.actionCache = new ActionCache(db, { remote, batchVersion: () => this.commits.batchVersion });
    this.commits.onLost(() => {
      this.actionCache.forget();
      this.cas.forget();
    });
    this.fingerprinter = new CodeFingerprinter({ root: config.root, memo: createSqliteFingerprintMemo(db) });
    this.#inline = new InlineExecutor(this.cas);
    this.#process = new ProcessExecutor(this.cas, { env: config.env, isolation: config.commandIsolation });
    this.#importer = new TsImporter(config.root);
  }

  /**
   * Opens the workspace's stores. Runs left `running` by a process that died (kill -9, power
   * loss) are marked `interrupted`, and their temp files removed.
   */
  static async open(config: ResolvedConfig, opts: { clock?: () => number; logger?: Logger } = {}): Promise<Workspace> {
    if (!fs.existsSync(config.root) || !fs.statSync(config.root).isDirectory()) {
      throw new SluiceError("SLUICE_WORKSPACE_INVALID", `workspace ${config.root} does not exist. Pass --workspace DIR or run sluice in a project folder.`, { path: config.root });
    }
    const db = openCacheDb(config.cacheDir);
    // Run records and the registry: PostgreSQL for teams (SLUICE_DATABASE_URL), else SQLite in the cache.
    const stores = config.databaseUrl ? await createPostgresStores(config.databaseUrl) : await createSqliteStores(path.join(config.cacheDir, "runs.db"));
    const runs = stores.runs;
    const ws = new Workspace(config, db, stores, opts.clock ?? Date.now, opts.logger ?? deferredLogger({ level: "silent" }));
    const host = os.hostname();
    const interrupted = await runs.markInterrupted((h, pid) => h !== host || isProcessAlive(pid));
    if (interrupted.length > 0) ws.#log.warn({ runs: interrupted }, "runs left running by a dead process marked interrupted");
    const removed = ws.cas.cleanTmp() + ws.#process.cleanDead();
    if (removed > 0) ws.#log.info({ removed }, "temp files of dead processes removed");
    return ws;
  }

  /** Every pipeline in `pipelines/` (imports each file). */
  async pipelines(): Promise<PipelineInfo[]> {
    if (this.#pipelines) return [...this.#pipelines.values()];
    const dir = path.join(this.config.root, "pipelines");
    if (!fs.existsSync(dir)) {
      throw new SluiceError("SLUICE_WORKSPACE_INVALID", `workspace ${this.config.root} has no pipelines/ folder. Create it and put a pipeline file in it, or pass --workspace DIR.`, { path: dir });
    }
    const found = new Map<string, PipelineInfo>();
    for (const f of fs.readdirSync(dir).filter((f) => PIPELINE_FILE.test(f) && !f.includes(".test.")).sort()) {
      const file = path.join(dir, f);
      for (const p of await this.#importPipelines(file)) {
        const prev = found.get(p.name);
        if (prev) throw new SluiceError("SLUICE_DEFINITION_INVALID", `pipeline "${p.name}" is defined twice: in ${prev.file} and ${file}. Rename one.`, { pipeline: p.name });
        found.set(p.name, { name: p.name, file, description: p.description, pipeline: p });
      }
    }
    this.#pipelines = found;
    return [...found.values()];
  }

  async #importPipelines(file: string): Promise<AnyPipeline[]> {
    let mod: Record<string, unknown>;
    try {
      mod = await this.#importer.import(file);
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      // esbuild (compiling TypeScript) lists its problems separately; name the first with its place.
      const first = (err as { errors?: Array<{ text: string; location?: { file: string; line: number; column: number } | null }> }).errors?.[0];
      const msg = first ? `${first.location ? `${first.location.file}:${first.location.line}:${first.location.column}: ` : ""}${first.text}` : ((err as Error)?.message ?? String(err)).split("\n")[0];
      throw new SluiceError("SLUICE_PIPELINE_LOAD_FAILED", `${file} failed to load: ${msg}. Fix the module (run \`npx tsc --noEmit\` to see type errors).`, { path: file }, { cause: err });
    }
    return Object.values(mod).filter(isPipeline).filter((p, i, all) => all.indexOf(p) === i);
  }

  /** The pipeline of that name; `pipelines/<name>.ts` is tried before scanning the folder. */
  async load(name: string): Promise<PipelineInfo> {
    if (!this.#pipelines) {
      for (const ext of ["ts", "mts", "js", "mjs"]) {
        const file = path.join(this.config.root, "pipelines", `${name}.${ext}`);
        if (!fs.existsSync(file)) continue;
        const p = (await this.#importPipelines(file)).find((x) => x.name === name);
        if (p) return { name, file, description: p.description, pipeline: p };
      }
    }
    const all = await this.pipelines();
    const hit = all.find((p) => p.name === name);
    if (!hit) {
      throw new SluiceError("SLUICE_PIPELINE_NOT_FOUND", `no pipeline "${name}" in ${path.join(this.config.root, "pipelines")}. ${all.length ? `Pipelines: ${all.map((p) => p.name).join(", ")}.` : "The folder has none."} Run \`sluice ls\` to list them.`, { pipeline: name, known: all.map((p) => p.name) });
    }
    return hit;
  }

  /** Validates params and wiring into a plan (throws every problem at once). */
  plan(pipeline: AnyPipeline, params: Record<string, unknown> = {}): Plan {
    return buildPlan(pipeline, params, { root: this.config.root });
  }

  #services(claims: Claims): CacheServices {
    return { db: this.db, commits: this.commits, cas: this.cas, statCache: this.statCache, actionCache: this.actionCache, claims, fingerprinter: this.fingerprinter, clock: this.#clock, env: this.config.env };
  }

  /** What a run would do, step by step, and why; runs nothing. */
  async preview(info: PipelineInfo, params: Record<string, unknown> = {}, force?: ReadonlySet<string> | "all"): Promise<StepPreview[]> {
    const plan = this.plan(info.pipeline, params);
    this.fingerprinter.invalidate();
    return previewRun(plan, this.#services(new Claims(this.db, "preview")), { force });
  }

  /** Plans and runs a pipeline, recording it in the run store. A step failure resolves with status `failed`. */
  async run(info: PipelineInfo, opts: RunOptions = {}): Promise<RunSummary> {
    const plan = this.plan(info.pipeline, opts.params ?? {});
    for (const id of opts.force instanceof Set ? opts.force : []) {
      if ((plan.nodes.get(id)?.kind ?? "source") === "source") {
        throw new SluiceError("SLUICE_USAGE", `--force ${id}: pipeline "${plan.name}" has no step "${id}". Steps: ${plan.order.filter((i) => plan.nodes.get(i)!.kind !== "source").join(", ")}.`, { pipeline: plan.name, step: id });
      }
    }
    this.fingerprinter.invalidate();
    this.remoteCache?.startRun();
    const runId = newRunId(this.#clock());
    const claims = new Claims(this.db, runId);
    let needsThreads = false;
    const remoteSteps: string[] = [];
    for (const n of plan.nodes.values()) {
      if (n.kind === "source") continue;
      needsThreads ||= n.executor === "thread";
      if (n.executor === "remote") remoteSteps.push(n.id);
    }
    if (remoteSteps.length > 0) await (await this.#remoteExecutor(plan.name, remoteSteps)).connect();
    if (needsThreads && !this.#threads) {
      // Loaded with the first thread step: loading Piscina alone took ≈ 28 ms here (`require` in a bare node).
      const { ThreadExecutor } = await import("../executors/thread-executor.ts");
      this.#threads ??= new ThreadExecutor({ cacheDir: this.config.cacheDir, threads: this.config.threads, loadableUrl: (u) => this.#importer.loadableUrl(u) });
    }
    let codeDigest: string | null;
    try {
      const fp = this.fingerprinter.fingerprint(info.file);
      codeDigest = fp.digest;
      this.actionCache.putCode(fp.digest, fp.manifest);
    } catch {
      codeDigest = null; // the step fingerprints report the import problem with its place
    }
    const log = this.#log.child({ runId, pipeline: plan.name });
    const recorder = new RunRecorder(this.runs, { host: os.hostname(), pid: process.pid, trigger: opts.trigger ?? "api", actor: opts.actor ?? os.userInfo().username, codeDigest }, {
      stepName: (id) => {
        const n = plan.nodes.get(id);
        return n && n.kind !== "source" ? n.step.name : undefined;
      },
      onError: (err) => log.error({ err }, "run record write failed"),
    });
    const sinks: EventSink[] = [recorder.sink];
    // Only when debug lines are wanted: the sink costs an object per event even when pino drops the line.
    if (log.isLevelEnabled("debug")) sinks.push((e) => log.debug({ event: e }, "run event"));
    if (opts.onEvent) sinks.push(opts.onEvent);
    const emit = fanOut(sinks, (err) => log.error({ err }, "event consumer threw"));
    if (this.remoteCache) {
      // Batched warm-up from the shared cache; a problem here (a missing input, a module that does
      // not load) is left for the run itself to report, as it does without a cache server.
      await prefetchFromRemote(plan, this.#services(claims), this.remoteCache, { force: opts.force }).catch((err: unknown) => log.debug({ err }, "remote cache prefetch skipped"));
    }
    // Added to the services object, not spread into a new one: here the spread gave each run's
    // options a hidden class of their own, and the coordinator's code that reads them was
    // deoptimised by every new run.
    const coordinator = new RunCoordinator(Object.assign(this.#services(claims), {
      plan, runId, emit,
      executors: { inline: this.#inline, process: this.#process, ...(this.#threads ? { thread: this.#threads } : {}), ...(this.#remote ? { remote: this.#remote } : {}) },
      concurrency: opts.concurrency ?? this.config.concurrency,
      force: opts.force, signal: opts.signal, trigger: opts.trigger ?? "api", actor: opts.actor,
      keepGoing: opts.keepGoing, budget: opts.budget,
      models: (ctx: AttemptContext) => this.#modelsClient(ctx),
    }));
    opts.onStart?.(runId, coordinator);
    const summary = await coordinator.run();
    await recorder.drain();
    // Uploads to the shared cache run in the background during the run; it ends once they are sent.
    await this.remoteCache?.flush();
    return summary;
  }

  /**
   * The executor of remote steps (BullMQ on `redisUrl`); without Redis configured, an error before
   * anything runs. Its module (and the queue client) loads only for a pipeline with remote steps.
   */
  async #remoteExecutor(pipeline: string, steps: readonly string[]): Promise<RemoteExecutor> {
    const { redisUrl, redisPrefix, redisTimeoutMs } = this.config;
    if (!redisUrl) {
      throw new SluiceError("SLUICE_CONFIG_INVALID", `pipeline "${pipeline}": step${steps.length > 1 ? "s" : ""} ${steps.map((s) => `"${s}"`).join(", ")} run${steps.length > 1 ? "" : "s"} on remote workers, but no Redis is configured. Fix: set SLUICE_REDIS_URL=redis://host:6379 (or redisUrl in sluice.config.ts) and start \`sluice worker\` processes, or change the executor.`, { pipeline, step: steps[0], field: "executor" });
    }
    if (this.#remote) return this.#remote;
    const { RemoteExecutor } = await import("../executors/remote/index.ts");
    return (this.#remote = new RemoteExecutor({
      redisUrl, prefix: redisPrefix, unreachableMs: redisTimeoutMs, root: this.config.root, cas: this.cas, commits: this.commits,
      ...(this.remoteCache ? { pushObjects: (digests: readonly Digest[]) => this.remoteCache!.pushObjects(digests) } : {}),
      fingerprint: (file) => this.fingerprinter.fingerprint(file).digest, logger: this.#log,
    }));
  }

  /** The registry client of one attempt: registration records the attempt's lineage itself. */
  #modelsClient(ctx: AttemptContext): ModelsClient {
    const reg = this.models;
    const clock = this.#clock;
    const cas = this.cas;
    const info = (m: ModelVersion): ModelVersionInfo => ({ name: m.name, version: m.version, digest: m.digest, metrics: m.metrics, stage: m.stage, signature: m.signature, tags: m.tags, createdAt: m.createdAt, lineage: m.lineage });
    return {
      async register({ name, input, metrics, signature, tags }) {
        const i = ctx.inputs[input];
        if (!i || i.kind !== "file") {
          throw new SluiceError("SLUICE_PARAMS_INVALID", `step "${ctx.stepId}": models.register({ input: ${JSON.stringify(input)} }) must name a file input holding the ONNX model (inputs: ${Object.keys(ctx.inputs).join(", ") || "none"}).`, { step: ctx.stepId, field: "input" });
        }
        // A model read in place from the workspace is copied into the CAS, so the registry can serve it later.
        if (i.sourcePath !== undefined) await cas.putFile(i.sourcePath);
        const lineage = { runId: ctx.runId, stepId: ctx.stepId, pipeline: ctx.pipeline, inputs: Object.fromEntries(Object.entries(ctx.inputs).map(([p, x]) => [p, x.digest])), params: ctx.params, codeDigest: ctx.codeDigest };
        return info(await reg.register({ name, digest: i.digest, metrics, signature: signature ?? null, lineage, tags: tags ?? {}, createdAt: clock() }));
      },
      get: async (name, version) => {
        const m = await reg.get(name, version);
        return m && info(m);
      },
      champion: async (name) => {
        const m = await reg.champion(name);
        return m && info(m);
      },
      promote: async (name, version) => info(await reg.promote(name, version, clock())),
      async read(name, version) {
        const m = await reg.get(name, version);
        if (!m) throw new SluiceError("SLUICE_MODEL_NOT_FOUND", `no model "${name}"${version === undefined ? "" : ` version ${version}`} in the registry. Register it first.`, { model: name, version });
        const bytes = cas.getBytes(m.digest as never);
        if (!bytes) throw new SluiceError("SLUICE_CACHE_CORRUPT", `model "${name}" version ${m.version}: its ONNX bytes ${m.digest} are missing from the cache. Run the pipeline that made it again.`, { model: name, digest: m.digest });
        return bytes;
      },
      async deploy(endpoint, deployments) {
        await reg.setDeployments(endpoint, deployments.map((d) => ({ ...d })), clock());
      },
    };
  }

  /**
   * Prepares `run --resume`: the run's pipeline and params, and which steps' code changed since
   * (from the code manifest recorded with the run). Finished steps whose code is unchanged are hits.
   */
  async planResume(runId: string): Promise<ResumePlan> {
    const from = await this.runs.getRun(runId);
    if (!from) throw new SluiceError("SLUICE_RUN_NOT_FOUND", `no run "${runId}" to resume in ${this.config.cacheDir}. List runs with \`sluice runs\`.`, { runId });
    const info = await this.load(from.pipeline);
    const params = (from.params ?? {}) as Record<string, unknown>;
    const plan = this.plan(info.pipeline, params);
    this.fingerprinter.invalidate();
    const now = this.fingerprinter.fingerprint(info.file);
    const before = from.codeDigest ? this.actionCache.getCode(from.codeDigest as never) : undefined;
    const changedFiles: string[] = [];
    if (before && from.codeDigest !== now.digest) {
      for (const f of new Set([...Object.keys(before.files), ...Object.keys(now.manifest.files)])) if (before.files[f] !== now.manifest.files[f]) changedFiles.push(f);
      for (const p of new Set([...Object.keys(before.packages), ...Object.keys(now.manifest.packages)])) if (before.packages[p] !== now.manifest.packages[p]) changedFiles.push(`package ${p}`);
    }
    const affectedSteps: string[] = [];
    if (changedFiles.length > 0) {
      for (const n of plan.nodes.values()) {
        if (n.kind === "source") continue;
        const m = this.fingerprinter.fingerprint(fileURLToPath(n.step.moduleUrl)).manifest;
        if (changedFiles.some((f) => (f.startsWith("package ") ? f.slice(8) in m.packages : f in m.files))) affectedSteps.push(n.id);
      }
    }
    return { info, params, from, changedFiles: changedFiles.sort(), affectedSteps };
  }

  /** Closes pools and stores. */
  async close(): Promise<void> {
    await this.remoteCache?.close();
    await this.#threads?.close();
    this.#threads = undefined;
    await this.#remote?.close();
    this.#remote = undefined;
    await this.#process.close();
    await this.#closeStores();
    this.commits.flush();
    this.statCache.flush();
    await this.#wal.release();
    this.db.close();
  }
}
