/**
 * The fire ledger of cron schedules, on the run store's database (SQLite or PostgreSQL): one row
 * per (pipeline, schedule, fire instant). A scheduler inserts the row BEFORE it launches the run;
 * the primary key makes that insert a claim, so two processes (or a restarted one) never launch
 * the same instant twice: the loser's insert changes no row.
 */
import type { Kysely } from "kysely";
import { SluiceError } from "../../errors.ts";
import { storeGuard } from "./guard.ts";
import type { IntColumn } from "./schema.ts";

/**
 * Where a fire stands: `launching` (claimed, run being started), `launched` (run going),
 * `finished` (run over), `queued` (waiting for the previous run: overlap `queue`), `skipped`
 * (overlap `skip`, or missed with misfire `skip`), `failed` (the run could not be started).
 */
export type FireStatus = "launching" | "launched" | "finished" | "queued" | "skipped" | "failed";

/** Why a fire happened: at its instant (`cron`) or as the catch-up for missed ones (`misfire`). */
export type FireReason = "cron" | "misfire";

/** The statuses a fire may have. */
export const FIRE_STATUSES: readonly FireStatus[] = ["launching", "launched", "finished", "queued", "skipped", "failed"];

/** One row of the ledger. Times are epoch ms. */
export interface FireRecord {
  readonly pipeline: string;
  readonly scheduleId: string;
  /** The cron instant this fire is for. */
  readonly fireTime: number;
  readonly status: FireStatus;
  readonly reason: FireReason;
  /** How many cron instants this fire stands for (> 1 for a `run-once` catch-up or a skipped misfire). */
  readonly instants: number;
  readonly runId: string | null;
  /** Why it was skipped or failed. */
  readonly note: string | null;
  /** When the row was claimed. */
  readonly claimedAt: number;
  readonly updatedAt: number;
}

/** A fire to claim. */
export type NewFire = Omit<FireRecord, "updatedAt" | "runId" | "note"> & { readonly note?: string | null };

/** The identity of a fire. */
export interface FireKey {
  readonly pipeline: string;
  readonly scheduleId: string;
  readonly fireTime: number;
}

/** Filters of `ScheduleLedger.list`. */
export interface ListFiresQuery {
  readonly pipeline?: string;
  readonly scheduleId?: string;
  readonly status?: FireStatus;
  /** @default 50 */
  readonly limit?: number;
}

/** The fire ledger of every pipeline's schedules. */
export interface ScheduleLedger {
  /** Inserts `fire` unless a row for its (pipeline, schedule, instant) exists; true when this call inserted it. */
  claim(fire: NewFire): Promise<boolean>;
  /**
   * Sets status (and run id or note) of a fire; with `from`, only if its status is one of those
   * (an atomic hand-over, e.g. `queued` → `launching`). True when a row changed.
   */
  update(key: FireKey, patch: { readonly status: FireStatus; readonly runId?: string | null; readonly note?: string | null; readonly at: number }, from?: readonly FireStatus[]): Promise<boolean>;
  /** The newest fire (by instant) of each schedule of `pipeline`, or of every pipeline. */
  latest(pipeline?: string): Promise<FireRecord[]>;
  /** Fires newest first. */
  list(query?: ListFiresQuery): Promise<FireRecord[]>;
}

/** Table `schedule_fires` (migration `0004_schedules`). */
export interface ScheduleFiresTable {
  pipeline: string;
  schedule_id: string;
  fire_time: IntColumn;
  status: string;
  reason: string;
  instants: IntColumn;
  run_id: string | null;
  note: string | null;
  claimed_at: IntColumn;
  updated_at: IntColumn;
}

/** The ledger's view of the database. */
interface LedgerSchema {
  schedule_fires: ScheduleFiresTable;
}

/** Options of `createKyselyScheduleLedger`. */
export interface ScheduleLedgerOptions {
  /**
   * Runs `fn` so that no other write to the same database from this process overlaps it: pass
   * the run store's (SQLite's per-file lock). PostgreSQL needs none.
   * @default runs `fn` at once
   */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
}

const guard = storeGuard("schedule ledger", "Check that the database is reachable, writable, and migrated by this sluice (0004_schedules).");

type Row = { [K in keyof ScheduleFiresTable]: ScheduleFiresTable[K] extends IntColumn ? number | string | bigint : ScheduleFiresTable[K] };

function fromRow(r: Row): FireRecord {
  return {
    pipeline: r.pipeline,
    scheduleId: r.schedule_id,
    fireTime: Number(r.fire_time),
    status: r.status as FireStatus,
    reason: r.reason as FireReason,
    instants: Number(r.instants),
    runId: r.run_id,
    note: r.note,
    claimedAt: Number(r.claimed_at),
    updatedAt: Number(r.updated_at),
  };
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function checkFireTime(op: string, t: number): void {
  if (!Number.isSafeInteger(t)) throw new SluiceError("SLUICE_STORE_FAILED", `schedule ledger › ${op}: fire time ${String(t)} is not an integer epoch ms. Pass Date.getTime() of a cron instant.`, { op, field: "fireTime" });
}

/** The ledger on a Kysely database whose run-store migrations (including `0004_schedules`) have been applied. */
export function createKyselyScheduleLedger(database: Kysely<any>, options: ScheduleLedgerOptions = {}): ScheduleLedger {
  const db = database as Kysely<LedgerSchema>;
  const exclusive = options.exclusive ?? ((fn) => fn());
  return {
    claim: (fire) =>
      guard("claim", async () => {
        checkFireTime("claim", fire.fireTime);
        const result = await exclusive(() =>
          db
            .insertInto("schedule_fires")
            .values({
              pipeline: fire.pipeline,
              schedule_id: fire.scheduleId,
              fire_time: fire.fireTime,
              status: fire.status,
              reason: fire.reason,
              instants: fire.instants,
              run_id: null,
              note: fire.note ?? null,
              claimed_at: fire.claimedAt,
              updated_at: fire.claimedAt,
            })
            .onConflict((oc) => oc.columns(["pipeline", "schedule_id", "fire_time"]).doNothing())
            .executeTakeFirst(),
        );
        return Number(result.numInsertedOrUpdatedRows ?? 0) === 1;
      }),
    update: (key, patch, from) =>
      guard("update", async () => {
        checkFireTime("update", key.fireTime);
        let q = db
          .updateTable("schedule_fires")
          .set({ status: patch.status, updated_at: patch.at, ...(patch.runId !== undefined ? { run_id: patch.runId } : {}), ...(patch.note !== undefined ? { note: patch.note } : {}) })
          .where("pipeline", "=", key.pipeline)
          .where("schedule_id", "=", key.scheduleId)
          .where("fire_time", "=", key.fireTime);
        if (from !== undefined) q = q.where("status", "in", [...from]);
        const result = await exclusive(() => q.executeTakeFirst());
        return Number(result.numUpdatedRows) > 0;
      }),
    latest: (pipeline) =>
      guard("latest", async () => {
        let newest = db.selectFrom("schedule_fires").select(["pipeline", "schedule_id"]).select((eb) => eb.fn.max("fire_time").as("fire_time")).groupBy(["pipeline", "schedule_id"]);
        if (pipeline !== undefined) newest = newest.where("pipeline", "=", pipeline);
        const rows = await db
          .selectFrom("schedule_fires as f")
          .innerJoin(newest.as("n"), (j) => j.onRef("n.pipeline", "=", "f.pipeline").onRef("n.schedule_id", "=", "f.schedule_id").onRef("n.fire_time", "=", "f.fire_time"))
          .selectAll("f")
          .execute();
        // Code-unit order in JS: PostgreSQL's collation would order names differently from SQLite.
        return rows.map((r) => fromRow(r as Row)).sort((a, b) => compareStrings(a.pipeline, b.pipeline) || compareStrings(a.scheduleId, b.scheduleId));
      }),
    list: (query = {}) =>
      guard("list", async () => {
        let q = db.selectFrom("schedule_fires").selectAll();
        if (query.pipeline !== undefined) q = q.where("pipeline", "=", query.pipeline);
        if (query.scheduleId !== undefined) q = q.where("schedule_id", "=", query.scheduleId);
        if (query.status !== undefined) q = q.where("status", "=", query.status);
        const rows = await q.orderBy("fire_time", "desc").limit(query.limit ?? 50).execute();
        return rows.map((r) => fromRow(r as Row));
      }),
  };
}
