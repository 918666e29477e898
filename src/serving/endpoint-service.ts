/**
 * Model endpoints: online scoring with traffic split by share (weighted random, or sticky by a
 * key), shadow deployments mirrored off the answer path, share changes without downtime, and
 * batch scoring jobs. The desired deployments live in the model registry; this service keeps
 * one routing table per endpoint built from them, with an onnxruntime-node session per model
 * digest. Framework-free: the HTTP routes are a thin layer over it.
 */
import { performance } from "node:perf_hooks";
import type { Registry } from "prom-client";
import { encodeTable, decodeTable, type Table } from "../artifacts/index.ts";
import { SluiceError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Deployment, ModelRegistry } from "../store/run-store/index.ts";
import { BatchJobs, type BatchJob, type BatchSource } from "./batch-jobs.ts";
import { scoreTable } from "./batch-score.ts";
import { resolveBatchSource } from "./batch-source.ts";
import { EndpointMetrics, type DeploymentStats } from "./endpoint-metrics.ts";
import { ModelCache, type ModelBytesSource } from "./model-cache.ts";
import type { Prediction } from "./model-io.ts";
import { rowGetter } from "./request-rows.ts";
import { createRoutingTable, deploymentsFingerprint, routeAt, stickyPoint, type Route, type RoutingTable } from "./routing.ts";
import { ShadowMirror } from "./shadows.ts";
import { planTraffic, type TrafficChange } from "./traffic-plan.ts";

/** What the service needs, passed in. */
export interface EndpointServiceOptions {
  readonly models: ModelRegistry;
  /** The CAS: model bytes and batch tables are read from it, batch results written to it. */
  readonly cas: ModelBytesSource & { putBytes(bytes: Uint8Array): string };
  /** Workspace root: batch jobs read table files under it, never outside. */
  readonly root: string;
  readonly log: Logger;
  /** Prometheus registry for the per-deployment metrics. */
  readonly metrics: Registry;
  /** @default Date.now */
  readonly clock?: () => number;
  /** Uniform [0, 1) for the traffic split and shadow sampling (inject a seeded one in tests). @default Math.random */
  readonly random?: () => number;
  /** Shadow copies in flight at most; more are dropped (and counted), so a slow shadow cannot pile up. @default 1000 */
  readonly maxPendingShadows?: number;
  /** Batch job records kept in memory. @default 1000 */
  readonly maxJobs?: number;
  /** Batch jobs queued or running at once; one more is refused with SLUICE_QUEUE_FULL (HTTP 429). @default 100 */
  readonly maxQueuedJobs?: number;
  /** Re-read the registry this often (deployments changed by a pipeline's deploy step); 0 = only on demand. @default 5000 */
  readonly refreshMs?: number;
  /**
   * Score requests to the same model that arrive in the same event-loop turn in one session run
   * (rows must not depend on each other, true of every sluice-exported model). @default true
   */
  readonly microBatch?: boolean;
}

/** The answer of one scoring request. */
export interface ScoreResult {
  /** The deployment that answered. */
  readonly deployment: string;
  readonly model: { readonly name: string; readonly version: number };
  /** One per row, in row order. */
  readonly predictions: Prediction[];
}

/** One deployment of an endpoint, as the API shows it. */
export interface DeploymentInfo {
  readonly deployment: string;
  readonly model: string;
  readonly version: number;
  readonly trafficPercent: number;
  readonly shadow: boolean;
  /** The columns a row supplies, in the order of an array row. */
  readonly columns: ReadonlyArray<{ readonly name: string; readonly type: string; readonly width: number }>;
  readonly stats: DeploymentStats;
}

/** An endpoint and its deployments. */
export interface EndpointInfo {
  readonly endpoint: string;
  readonly deployments: DeploymentInfo[];
}

const MISS_REFRESH_MS = 1000;

/** The serving side of the model registry (see the module comment). */
export class EndpointService {
  readonly #o: Required<Omit<EndpointServiceOptions, "clock" | "random">> & { clock: () => number; random: () => number };
  readonly #log: Logger;
  readonly #cache: ModelCache;
  readonly #metrics: EndpointMetrics;
  readonly #jobs: BatchJobs;
  #tables = new Map<string, RoutingTable>();
  readonly #draining = new Set<RoutingTable>();
  #updates: Promise<unknown> = Promise.resolve();
  readonly #shadows: ShadowMirror;
  #lastMissRefresh = Number.NEGATIVE_INFINITY;
  /** The refresh `refreshShared` callers join until it starts reading. */
  #queuedRefresh: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: EndpointServiceOptions) {
    this.#o = { maxPendingShadows: 1000, maxJobs: 1000, maxQueuedJobs: 100, refreshMs: 5000, microBatch: true, clock: Date.now, random: Math.random, ...opts };
    this.#log = opts.log.child({ component: "endpoints" });
    this.#cache = new ModelCache(opts.cas, this.#log, { microBatch: this.#o.microBatch });
    this.#metrics = new EndpointMetrics(opts.metrics);
    this.#jobs = new BatchJobs({ clock: this.#o.clock, log: this.#log, maxJobs: this.#o.maxJobs, maxWaiting: this.#o.maxQueuedJobs });
    this.#shadows = new ShadowMirror({ metrics: this.#metrics, log: this.#log, maxPending: this.#o.maxPendingShadows, release: (t) => this.#release(t) });
  }

  /** Loads every endpoint's deployments and sessions; starts the periodic registry refresh. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.#o.refreshMs > 0) {
      this.#timer = setInterval(() => void this.refresh().catch((err: unknown) => this.#log.warn({ err }, "endpoint refresh failed")), this.#o.refreshMs);
      this.#timer.unref();
    }
  }

  /**
   * Re-reads the registry: endpoints whose deployments changed get a new routing table (sessions
   * loaded before the swap), removed endpoints stop serving. A deployment whose model cannot be
   * loaded keeps the endpoint on its previous table and is logged.
   */
  refresh(): Promise<void> {
    return this.#serial(() => this.#readRegistry());
  }

  async #readRegistry(): Promise<void> {
    const all = await this.#o.models.listDeployments();
    const byEndpoint = new Map<string, Deployment[]>();
    for (const d of all) byEndpoint.set(d.endpoint, [...(byEndpoint.get(d.endpoint) ?? []), d]);
    for (const [endpoint, ds] of byEndpoint) {
      if (this.#tables.get(endpoint)?.fingerprint === deploymentsFingerprint(ds)) continue;
      try {
        this.#swap(endpoint, await this.#build(endpoint, ds));
      } catch (err) {
        this.#log.error({ endpoint, err }, "endpoint not updated: a model failed to load");
      }
    }
    for (const endpoint of [...this.#tables.keys()]) if (!byEndpoint.has(endpoint)) this.#swap(endpoint, undefined);
    await this.#collect();
  }

  /**
   * A refresh that reads the registry after this call, shared: callers that arrive before a queued
   * refresh has started reading join it, so however many clients poll the endpoint list, at most
   * one refresh runs and one waits.
   */
  refreshShared(): Promise<void> {
    return (this.#queuedRefresh ??= this.#serial(async () => {
      this.#queuedRefresh = undefined;
      await this.#readRegistry();
    }));
  }

  /** Runs table updates one at a time, so two changes never interleave. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#updates.then(fn, fn);
    this.#updates = next.catch(() => undefined);
    return next;
  }

  async #build(endpoint: string, ds: readonly Deployment[]): Promise<RoutingTable> {
    const routes: Route[] = [];
    for (const d of ds) {
      const where = `endpoint "${endpoint}" › deployment "${d.deployment}" (model "${d.model}" v${d.version})`;
      const v = await this.#o.models.get(d.model, d.version);
      if (!v) throw new SluiceError("SLUICE_MODEL_NOT_FOUND", `${where}: no such model version in the registry. Register it, or deploy a registered version.`, { model: d.model, version: d.version });
      routes.push({ deployment: d, model: await this.#cache.load(v.digest, where) });
    }
    return createRoutingTable(endpoint, routes);
  }

  /** Replaces an endpoint's table in one assignment; the old one drains its in-flight requests. */
  #swap(endpoint: string, table: RoutingTable | undefined): void {
    const old = this.#tables.get(endpoint);
    if (table) this.#tables.set(endpoint, table);
    else this.#tables.delete(endpoint);
    if (old) this.#draining.add(old);
    this.#log.info({ endpoint, deployments: table ? table.routes.map((r) => `${r.deployment.deployment}:${r.deployment.trafficPercent}${r.deployment.shadow ? " (shadow)" : ""}`) : [] }, "endpoint routing updated");
  }

  /** Releases sessions no table (current or still draining) uses. */
  async #collect(): Promise<void> {
    for (const t of this.#draining) if (t.inFlight === 0) this.#draining.delete(t);
    const keep = new Set<string>();
    for (const t of [...this.#tables.values(), ...this.#draining]) for (const r of t.routes) keep.add(r.model.digest);
    await this.#cache.retain(keep);
  }

  #release(table: RoutingTable): void {
    table.inFlight--;
    if (table.inFlight === 0 && this.#draining.has(table)) void this.#serial(() => this.#collect());
  }

  /** The current table of an endpoint; an unknown name re-reads the registry at most once a second. */
  async #table(endpoint: string): Promise<RoutingTable> {
    let table = this.#tables.get(endpoint);
    const now = this.#o.clock();
    if (!table && now - this.#lastMissRefresh >= MISS_REFRESH_MS) {
      this.#lastMissRefresh = now;
      await this.refresh();
      table = this.#tables.get(endpoint);
    }
    if (!table) throw new SluiceError("SLUICE_ENDPOINT_NOT_FOUND", `endpoint "${endpoint}": no deployment serves it. Deploy a model version to it (the deploy step, or PUT /api/v1/endpoints/${endpoint}/traffic).`, { endpoint });
    return table;
  }

  /**
   * Scores rows (objects by column name, or arrays in the model's column order) on one deployment,
   * picked by share at random or, with `stickyKey`, by the key's fixed point. Shadow deployments
   * get a copy after the answer is sent on its way; their answers are logged and counted only.
   */
  async score(endpoint: string, rows: readonly unknown[], opts: { stickyKey?: string } = {}): Promise<ScoreResult> {
    const table = await this.#table(endpoint);
    const point = opts.stickyKey === undefined ? this.#o.random() * 100 : stickyPoint(opts.stickyKey);
    const route = routeAt(table, point);
    if (!route) throw new SluiceError("SLUICE_ENDPOINT_NOT_FOUND", `endpoint "${endpoint}": every deployment has a 0% share. Give one a share (PUT /api/v1/endpoints/${endpoint}/traffic).`, { endpoint });
    const mirrors = table.shadows.filter((s) => s.deployment.trafficPercent >= 100 || this.#o.random() * 100 < s.deployment.trafficPercent);
    table.inFlight++;
    const d = route.deployment;
    const started = performance.now();
    let outcome: "ok" | "invalid" | "error" = "error";
    try {
      const predictions = await route.model.score(rows.length, rowGetter(rows, route, endpoint), `endpoint "${endpoint}" › deployment "${d.deployment}"`);
      outcome = "ok";
      return { deployment: d.deployment, model: { name: d.model, version: d.version }, predictions };
    } catch (err) {
      if ((err as SluiceError).code === "SLUICE_DATA_INVALID") outcome = "invalid";
      throw err;
    } finally {
      this.#metrics.observe(endpoint, d.deployment, "primary", outcome, rows.length, performance.now() - started);
      for (const s of mirrors) this.#shadows.mirror(table, s, rows);
      this.#release(table);
    }
  }

  /** Resolves when no shadow copy is pending (tests and shutdown wait on it). */
  shadowsSettled(): Promise<void> {
    return this.#shadows.settled();
  }

  /** Every endpoint with its deployments, shares and stats, by name. */
  list(): EndpointInfo[] {
    return [...this.#tables.keys()].sort().map((e) => this.#info(this.#tables.get(e)!));
  }

  /** One endpoint (re-reading the registry for an unknown name); unknown → `SLUICE_ENDPOINT_NOT_FOUND`. */
  async get(endpoint: string): Promise<EndpointInfo> {
    return this.#info(await this.#table(endpoint));
  }

  #info(table: RoutingTable): EndpointInfo {
    return {
      endpoint: table.endpoint,
      deployments: table.routes.map(({ deployment: d, model }) => ({
        deployment: d.deployment,
        model: d.model,
        version: d.version,
        trafficPercent: d.trafficPercent,
        shadow: d.shadow,
        columns: model.io.columns.map((c) => ({ name: c.name, type: c.type, width: c.width })),
        stats: this.#metrics.snapshot(table.endpoint, d.deployment),
      })),
    };
  }

  /**
   * Changes an endpoint's traffic without downtime: loads the sessions of the new deployments,
   * writes the registry, then swaps the routing table; requests in flight finish on the old one.
   * Unknown deployment names, shares that do not sum to 100, unknown versions: nothing changes.
   */
  setTraffic(endpoint: string, change: TrafficChange): Promise<EndpointInfo> {
    return this.#serial(async () => {
      const specs = planTraffic(endpoint, await this.#o.models.listDeployments(endpoint), change);
      try {
        // Sessions first (a model that fails to load changes nothing), then the registry, then the swap.
        const planned = await this.#build(endpoint, specs.map((s) => ({ endpoint, updatedAt: 0, shadow: false, ...s })));
        const saved = await this.#o.models.setDeployments(endpoint, specs, this.#o.clock());
        const models = new Map(planned.routes.map((r) => [r.deployment.deployment, r.model]));
        this.#swap(endpoint, saved.length === 0 ? undefined : createRoutingTable(endpoint, saved.map((d) => ({ deployment: d, model: models.get(d.deployment)! }))));
      } finally {
        await this.#collect();
      }
      const table = this.#tables.get(endpoint);
      return table ? this.#info(table) : { endpoint, deployments: [] };
    });
  }

  /**
   * Starts a batch job scoring a stored table (digest) or a workspace table file with one
   * deployment (the named one, else the one with the largest share). Returns the queued job;
   * a bad source or deployment throws at once.
   */
  async startBatch(endpoint: string, source: BatchSource & { deployment?: string }): Promise<BatchJob> {
    this.#jobs.assertRoom();
    const table = await this.#table(endpoint);
    const routes = table.routes;
    const route = source.deployment === undefined
      ? [...table.primary].sort((a, b) => b.deployment.trafficPercent - a.deployment.trafficPercent)[0]
      : routes.find((r) => r.deployment.deployment === source.deployment);
    if (!route) throw new SluiceError("SLUICE_PARAMS_INVALID", `endpoint "${endpoint}": no deployment named "${source.deployment}" (it has ${routes.map((r) => `"${r.deployment.deployment}"`).join(", ")}). Name one of them, or leave "deployment" out.`, { field: "deployment" });
    const load = resolveBatchSource(source, this.#o.root, this.#o.cas, `endpoint "${endpoint}" › batch`);
    const d = route.deployment;
    const where = `endpoint "${endpoint}" › batch › deployment "${d.deployment}"`;
    const src: BatchSource = source.table !== undefined ? { table: source.table } : { path: source.path! };
    this.#jobs.assertRoom(); // again: others may have filled the queue while the table loaded
    table.inFlight++;
    return this.#jobs.submit({ endpoint, deployment: d.deployment, model: { name: d.model, version: d.version }, source: src }, async () => {
      try {
        const scored = await scoreTable(route.model, await load(), where);
        return { rows: scored.numRows, result: this.#o.cas.putBytes(encodeTable(scored)) };
      } finally {
        this.#release(table);
      }
    });
  }

  /** A batch job of the endpoint; unknown → `SLUICE_JOB_NOT_FOUND`. */
  batchJob(endpoint: string, id: string): BatchJob {
    const job = this.#jobs.get(endpoint, id);
    if (!job) throw new SluiceError("SLUICE_JOB_NOT_FOUND", `endpoint "${endpoint}": no batch job "${id}". Jobs are kept in the serving process's memory (the newest ${this.#o.maxJobs}); start it again if the server restarted.`, { endpoint, job: id });
    return job;
  }

  /** Batch jobs of an endpoint, newest first. */
  batchJobs(endpoint: string): BatchJob[] {
    return this.#jobs.list(endpoint);
  }

  /** The result table of a succeeded job; a job not (yet) succeeded → `SLUICE_JOB_NOT_FOUND`. */
  batchResult(endpoint: string, id: string): Table {
    const job = this.batchJob(endpoint, id);
    const bytes = job.result ? this.#o.cas.getBytes(job.result) : undefined;
    if (!bytes) throw new SluiceError("SLUICE_JOB_NOT_FOUND", `endpoint "${endpoint}": batch job "${id}" has no result (status ${job.status}${job.result ? ", result pruned from the cache" : ""}). Wait until it succeeded.`, { endpoint, job: id, status: job.status });
    return decodeTable(bytes, job.result!);
  }

  /** Resolves when every batch job submitted so far has finished. */
  batchesSettled(): Promise<void> {
    return this.#jobs.idle();
  }

  /** Stops the refresh, waits for shadows and batch jobs, releases every session. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await Promise.all([this.shadowsSettled(), this.batchesSettled(), this.#updates]);
    this.#tables = new Map();
    this.#draining.clear();
    await this.#cache.close();
  }
}
