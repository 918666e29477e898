/**
 * The run store over Kysely: one implementation for SQLite and PostgreSQL. Queries use only SQL
 * both dialects share (no JSON functions, no dialect-only syntax); JSON is TEXT and decoded here.
 */
import type { Kysely, Transaction } from "kysely";
import { type SerializedError, SluiceError } from "../../errors.ts";
import { BulkInsert, chunks } from "./bulk-insert.ts";
import { storeGuard } from "./guard.ts";
import { migrateRunStore } from "./migrations.ts";
import {
  errorJson,
  LOG_COLUMNS,
  type LogRow,
  METRIC_COLUMNS,
  type MetricRow,
  STEP_RUN_COLUMNS,
  type StepRunRow,
  fromLogRow,
  fromMetricRow,
  fromRunRow,
  fromStepRunRow,
  toLogRow,
  toMetricRow,
  toRunRow,
  toStepRunRow,
} from "./rows.ts";
import type { RunStoreSchema } from "./schema.ts";
import { decodeStepRunSet, encodeStepRunSet, STEP_RUN_SET_FORMAT } from "./step-run-sets.ts";
import type { ListRunsQuery, LogLine, MetricPoint, RunRecord, RunStatus, RunStore, StepRunRecord, StepStatus } from "./types.ts";

/** Ids per `IN (…)` list. */
const IDS_PER_QUERY = 500;

/** Most step runs in one `step_run_sets` row. */
const STEPS_PER_SET = 5000;

const DEFAULT_LIST_LIMIT = 50;

/** Step statuses that mean "not finished": these become `interrupted` with their run. */
const UNFINISHED_STEP_STATUSES: readonly StepStatus[] = ["pending", "queued", "running"];

/** Options of `createKyselyRunStore`. */
export interface KyselyRunStoreOptions {
  /**
   * Runs `fn` so that no other write to the same database from this process overlaps it.
   * SQLite passes a per-file lock: better-sqlite3 waits for a busy database synchronously, so two
   * connections in one process must never wait on each other. PostgreSQL needs none.
   * @default runs `fn` at once
   */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
  /**
   * Clock for the finish time `markInterrupted` records.
   * @default Date.now
   */
  now?: () => number;
  /** Awaited by `close()` before the database is destroyed. */
  beforeClose?: () => Promise<void>;
}

/** Code-unit order, the same on every database (pg collations would differ from SQLite's). */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Turns database errors into `SLUICE_STORE_FAILED` that name the operation. */
const guard = storeGuard("run store", "Check that the database is reachable, writable and not locked by another program.");

/** The run store on a Kysely database whose migrations have been applied. */
class KyselyRunStore implements RunStore {
  readonly #db: Kysely<RunStoreSchema>;
  readonly #exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  readonly #now: () => number;
  readonly #beforeClose: (() => Promise<void>) | undefined;
  readonly #stepRunUpsert = new BulkInsert<RunStoreSchema, StepRunRow>(STEP_RUN_COLUMNS, (db, rows) =>
    db
      .insertInto("step_runs")
      .values(rows)
      .onConflict((oc) =>
        oc.columns(["run_id", "step_id"]).doUpdateSet((eb) => ({
          step_name: eb.ref("excluded.step_name"),
          status: eb.ref("excluded.status"),
          cache_key: eb.ref("excluded.cache_key"),
          inputs: eb.ref("excluded.inputs"),
          outputs: eb.ref("excluded.outputs"),
          executor: eb.ref("excluded.executor"),
          worker: eb.ref("excluded.worker"),
          attempts: eb.ref("excluded.attempts"),
          started_at: eb.ref("excluded.started_at"),
          finished_at: eb.ref("excluded.finished_at"),
          duration_ms: eb.ref("excluded.duration_ms"),
          error: eb.ref("excluded.error"),
          reason: eb.ref("excluded.reason"),
        })),
      ),
  );
  readonly #metricInsert = new BulkInsert<RunStoreSchema, MetricRow>(METRIC_COLUMNS, (db, rows) => db.insertInto("metrics").values(rows));
  readonly #logInsert = new BulkInsert<RunStoreSchema, LogRow>(LOG_COLUMNS, (db, rows) => db.insertInto("logs").values(rows));

  constructor(db: Kysely<RunStoreSchema>, options: KyselyRunStoreOptions) {
    this.#db = db;
    this.#exclusive = options.exclusive ?? ((fn) => fn());
    this.#now = options.now ?? Date.now;
    this.#beforeClose = options.beforeClose;
  }

  /** A write transaction, serialised with this process's other writers to the same database. */
  #write<T>(op: string, fn: (trx: Transaction<RunStoreSchema>) => Promise<T>): Promise<T> {
    return guard(op, () => this.#exclusive(() => this.#db.transaction().execute(fn)));
  }

  async createRun(run: RunRecord): Promise<void> {
    await this.#write("createRun", (trx) => trx.insertInto("runs").values(toRunRow(run)).execute());
  }

  async finishRun(id: string, status: RunStatus, finishedAt: number, error: SerializedError | null = null): Promise<void> {
    const changed = await this.#write("finishRun", async (trx) => {
      const res = await trx
        .updateTable("runs")
        .set({ status, finished_at: finishedAt, error: errorJson(error) })
        .where("id", "=", id)
        .executeTakeFirst();
      return Number(res.numUpdatedRows);
    });
    if (changed === 0) {
      throw new SluiceError("SLUICE_RUN_NOT_FOUND", `run store › finishRun: no run with id "${id}". Record it with createRun first.`, {
        runId: id,
      });
    }
  }

  async upsertStepRuns(rows: readonly StepRunRecord[]): Promise<void> {
    if (rows.length === 0) return;
    const values = rows.map(toStepRunRow);
    await this.#write("upsertStepRuns", (trx) => this.#stepRunUpsert.run(trx, values));
  }

  async appendFinishedStepRuns(rows: readonly StepRunRecord[]): Promise<void> {
    if (rows.length === 0) return;
    const byRun = new Map<string, StepRunRecord[]>();
    for (const r of rows) {
      const list = byRun.get(r.runId);
      if (list) list.push(r);
      else byRun.set(r.runId, [r]);
    }
    const values: Array<{ run_id: string; format: number; count: number; body: string }> = [];
    for (const [runId, list] of byRun) {
      for (const part of chunks(list, STEPS_PER_SET)) values.push({ run_id: runId, format: STEP_RUN_SET_FORMAT, count: part.length, body: encodeStepRunSet(part) });
    }
    await this.#write("appendFinishedStepRuns", async (trx) => {
      for (const v of values) await trx.insertInto("step_run_sets").values(v).execute();
    });
  }

  async appendMetrics(points: readonly MetricPoint[]): Promise<void> {
    if (points.length === 0) return;
    const values = points.map(toMetricRow);
    await this.#write("appendMetrics", (trx) => this.#metricInsert.run(trx, values));
  }

  async appendLogs(lines: readonly LogLine[]): Promise<void> {
    if (lines.length === 0) return;
    const values = lines.map(toLogRow);
    await this.#write("appendLogs", (trx) => this.#logInsert.run(trx, values));
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return guard("getRun", async () => {
      const row = await this.#db.selectFrom("runs").selectAll().where("id", "=", id).executeTakeFirst();
      return row === undefined ? undefined : fromRunRow(row);
    });
  }

  listRuns(q: ListRunsQuery = {}): Promise<RunRecord[]> {
    return guard("listRuns", async () => {
      let query = this.#db.selectFrom("runs").selectAll();
      if (q.pipeline !== undefined) query = query.where("pipeline", "=", q.pipeline);
      if (q.status !== undefined) query = query.where("status", "=", q.status);
      if (q.trigger !== undefined) query = query.where("trigger", "=", q.trigger);
      if (q.actor !== undefined) query = query.where("actor", "=", q.actor);
      if (q.beforeStartedAt !== undefined) query = query.where("started_at", "<", q.beforeStartedAt);
      const limit = Math.max(0, Math.floor(q.limit ?? DEFAULT_LIST_LIMIT));
      const rows = await query.orderBy("started_at", "desc").orderBy("id", "desc").limit(limit).execute();
      return rows.map(fromRunRow);
    });
  }

  /** The step runs stored in sets for these runs (at most `IDS_PER_QUERY` ids), in append order. */
  async #setRows(runIds: readonly string[]): Promise<StepRunRecord[]> {
    const sets = await this.#db.selectFrom("step_run_sets").select(["run_id", "format", "body"]).where("run_id", "in", runIds).orderBy("seq", "asc").execute();
    return sets.flatMap((s) => decodeStepRunSet(s.run_id, Number(s.format), s.body));
  }

  listStepRuns(runId: string): Promise<StepRunRecord[]> {
    return guard("listStepRuns", async () => {
      const own = (await this.#db.selectFrom("step_runs").selectAll().where("run_id", "=", runId).execute()).map(fromStepRunRow);
      // A step with a row of its own was upserted after it went into a set: its row wins.
      const byStep = new Map<string, StepRunRecord>();
      for (const r of await this.#setRows([runId])) byStep.set(r.stepId, r);
      for (const r of own) byStep.set(r.stepId, r);
      return [...byStep.values()].sort((a, b) => {
        if (a.startedAt !== b.startedAt) {
          if (a.startedAt === null) return 1;
          if (b.startedAt === null) return -1;
          return a.startedAt - b.startedAt;
        }
        return compareStrings(a.stepId, b.stepId);
      });
    });
  }

  listMetrics(runId: string, stepId?: string): Promise<MetricPoint[]> {
    return guard("listMetrics", async () => {
      let query = this.#db
        .selectFrom("metrics")
        .select(["run_id", "step_id", "name", "value", "step", "ts"])
        .where("run_id", "=", runId);
      if (stepId !== undefined) query = query.where("step_id", "=", stepId);
      const rows = await query.orderBy("seq", "asc").execute();
      return rows.map(fromMetricRow);
    });
  }

  listLogs(runId: string, stepId?: string, limit?: number): Promise<LogLine[]> {
    return guard("listLogs", async () => {
      let query = this.#db.selectFrom("logs").select(["run_id", "step_id", "ts", "level", "msg", "data"]).where("run_id", "=", runId);
      if (stepId !== undefined) query = query.where("step_id", "=", stepId);
      if (limit === undefined) return (await query.orderBy("seq", "asc").execute()).map(fromLogRow);
      // A tail: the newest `limit` lines, then back to append order.
      const rows = await query.orderBy("seq", "desc").limit(Math.max(0, Math.floor(limit))).execute();
      return rows.reverse().map(fromLogRow);
    });
  }

  async markInterrupted(isAlive: (host: string, pid: number) => boolean): Promise<string[]> {
    const running = await guard("markInterrupted", () =>
      this.#db.selectFrom("runs").select(["id", "host", "pid"]).where("status", "=", "running").execute(),
    );
    const dead = running.filter((r) => !isAlive(r.host, Number(r.pid))).map((r) => r.id);
    if (dead.length === 0) return [];
    const finishedAt = this.#now();
    // Write first, read nothing before: the `status = 'running'` guard makes a run that finished
    // (or was marked by another process) since the select above stay as it is.
    return this.#write("markInterrupted", async (trx) => {
      const changed: string[] = [];
      for (const ids of chunks(dead, IDS_PER_QUERY)) {
        const rows = await trx
          .updateTable("runs")
          .set({ status: "interrupted", finished_at: finishedAt })
          .where("id", "in", ids)
          .where("status", "=", "running")
          .returning("id")
          .execute();
        changed.push(...rows.map((r) => r.id));
      }
      for (const ids of chunks(changed, IDS_PER_QUERY)) {
        await trx
          .updateTable("step_runs")
          .set({ status: "interrupted" })
          .where("run_id", "in", ids)
          .where("status", "in", UNFINISHED_STEP_STATUSES)
          .execute();
      }
      return changed;
    });
  }

  recentRunIds(n: number): Promise<string[]> {
    return guard("recentRunIds", async () => {
      const count = Math.floor(n);
      if (!(count > 0)) return [];
      const ranked = this.#db
        .selectFrom("runs")
        .select((eb) => [
          "id",
          eb.fn
            .agg<number>("row_number")
            .over((ob) => ob.partitionBy("pipeline").orderBy("started_at", "desc").orderBy("id", "desc"))
            .as("rank"),
        ]);
      const rows = await this.#db.selectFrom(ranked.as("ranked")).select("id").where("rank", "<=", count).execute();
      return rows.map((r) => r.id);
    });
  }

  referencedBy(runIds: readonly string[]): Promise<{ cacheKeys: Set<string>; digests: Set<string> }> {
    return guard("referencedBy", async () => {
      const cacheKeys = new Set<string>();
      const digests = new Set<string>();
      for (const ids of chunks([...new Set(runIds)], IDS_PER_QUERY)) {
        const rows = await this.#db.selectFrom("step_runs").select(["cache_key", "outputs"]).where("run_id", "in", ids).execute();
        for (const row of rows) {
          if (row.cache_key !== null) cacheKeys.add(row.cache_key);
          for (const d of Object.values(JSON.parse(row.outputs) as Record<string, string>)) digests.add(d);
        }
        for (const r of await this.#setRows(ids)) {
          if (r.cacheKey !== null) cacheKeys.add(r.cacheKey);
          for (const d of Object.values(r.outputs)) digests.add(d);
        }
      }
      return { cacheKeys, digests };
    });
  }

  close(): Promise<void> {
    return guard("close", async () => {
      await this.#beforeClose?.();
      await this.#db.destroy();
    });
  }
}

/**
 * A run store on any Kysely database sluice supports (SQLite, PostgreSQL). Applies pending
 * migrations first (safe when other processes do the same at once). The store owns `db`:
 * `close()` destroys it.
 */
export async function createKyselyRunStore(db: Kysely<RunStoreSchema>, options: KyselyRunStoreOptions = {}): Promise<RunStore> {
  const exclusive = options.exclusive ?? ((fn) => fn());
  await guard("migrate", () => exclusive(() => migrateRunStore(db)));
  return new KyselyRunStore(db, options);
}
