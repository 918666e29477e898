/**
 * Read-only look-ups in this machine's action cache that the HTTP API needs and `ActionCache`
 * does not offer (it reads outputs by key, and the newest entry of a step *now*): the full entry
 * of one key (its key record and the run that produced it), and the entry of a step made just
 * before a given time (what a past run's miss is explained against).
 *
 * Why SQL here: the action cache's module is being changed by another task; these two reads
 * belong in `ActionCache` (as `entry(key)` and `newestFor(…, { before })`) once that lands.
 */
import type { CacheKey, KeyRecord } from "../hash/cache-key.ts";
import type { ActionEntry } from "../store/action-cache.ts";
import type { CacheDb } from "../store/cache-db.ts";

/** Read-only queries on the action cache's table. */
export interface CacheEntries {
  /** The entry recorded for `key`, or undefined (never cached, failed, or pruned). */
  entry(key: string): ActionEntry | undefined;
  /** The newest entry of `pipeline`'s step `stepId` other than `exceptKey`, made before `beforeMs`. */
  previous(pipeline: string, stepId: string, exceptKey: string, beforeMs: number): ActionEntry | undefined;
}

type Row = { key: string; outputs: string; record: string; pipeline: string; step_id: string; run_id: string; created_at: number; duration_ms: number };

function toEntry(r: Row | undefined): ActionEntry | undefined {
  if (!r) return undefined;
  return {
    key: r.key as CacheKey,
    outputs: JSON.parse(r.outputs) as ActionEntry["outputs"],
    createdAt: r.created_at,
    record: JSON.parse(r.record) as KeyRecord,
    pipeline: r.pipeline,
    stepId: r.step_id,
    runId: r.run_id,
    durationMs: r.duration_ms,
  };
}

/** Prepares the queries on a workspace's cache database (whose action cache made the table). */
export function createCacheEntries(db: CacheDb): CacheEntries {
  const byKey = db.prepare("SELECT * FROM action_cache WHERE key = ?");
  const before = db.prepare("SELECT * FROM action_cache WHERE pipeline = ? AND step_id = ? AND key != ? AND created_at < ? ORDER BY created_at DESC, rowid DESC LIMIT 1");
  return {
    entry: (key) => toEntry(byKey.get(key) as Row | undefined),
    previous: (pipeline, stepId, exceptKey, beforeMs) => toEntry(before.get(pipeline, stepId, exceptKey, beforeMs) as Row | undefined),
  };
}
