/**
 * Why one step of a past (or running) run was a cache hit or a miss, from what the run recorded
 * (the step's cache key and reason) and the action cache's key records: for a hit, the run whose
 * outputs were reused; for a miss on a new key, the exact components (code files, packages,
 * params, inputs, env, version) that differ from the entry of the same step made just before it.
 */
import { explainChanges, formatChange, type KeyChange } from "../hash/explain.ts";
import type { RunRecord, StepRunRecord } from "../store/run-store/index.ts";
import type { Workspace } from "../workspace/index.ts";
import type { CacheEntries } from "./cache-entries.ts";

/** The reason the scheduler records when a step's key has no entry: the only miss a key diff explains. */
const NEW_KEY = "no cache entry for this key";

/** The entry a miss was compared with. */
export interface ComparedEntry {
  readonly key: string;
  /** The run that made it. */
  readonly runId: string;
  readonly createdAt: number;
}

/** What `GET /runs/{id}/steps/{step}/explain` answers. */
export interface StepExplanation {
  readonly runId: string;
  readonly stepId: string;
  readonly status: string;
  /** True when the step's outputs came from the cache. */
  readonly hit: boolean;
  readonly key: string | null;
  /** The reason the run recorded. */
  readonly reason: string | null;
  /** For a hit: the run whose outputs were reused (null when the entry is gone). */
  readonly fromRun: string | null;
  /** For a miss on a new key: the entry of the same step made before it, or null (none: first run). */
  readonly comparedWith: ComparedEntry | null;
  /** For a miss on a new key: every key component that changed since `comparedWith`. */
  readonly changes: readonly KeyChange[];
  /** One line per change, for people (`param factor: 1 → 3`), or why there is no diff. */
  readonly summary: readonly string[];
}

/** Explains one step run of `run`; never throws for missing cache records (it says so instead). */
export function explainStep(ws: Workspace, entries: CacheEntries, run: RunRecord, step: StepRunRecord): StepExplanation {
  const base = { runId: run.id, stepId: step.stepId, status: step.status, key: step.cacheKey, reason: step.reason, fromRun: null, comparedWith: null, changes: [] };
  const key = step.cacheKey;
  if (step.status === "cached") {
    const made = key ? entries.entry(key) : undefined;
    const summary = made ? [`outputs reused from run ${made.runId} (step ${made.stepId})`] : ["cache hit; the entry has since been pruned"];
    return { ...base, hit: true, fromRun: made?.runId ?? null, summary };
  }
  const miss = { ...base, hit: false };
  if (!key) return { ...miss, summary: [step.reason ?? `no cache key recorded (step ${step.status})`] };
  if (step.reason !== null && step.reason !== NEW_KEY) return { ...miss, summary: [step.reason] };
  const cur = entries.entry(key);
  if (!cur) {
    const unfinished = ["pending", "queued", "running"].includes(step.status);
    const why = unfinished ? "the step has not finished yet: its key's record is stored when it succeeds" : `the record of key ${key.slice(7, 19)} is not in this machine's cache (the step did not succeed here, or the entry was pruned)`;
    return { ...miss, summary: [`${why}, so no components can be compared`] };
  }
  const prev = entries.previous(run.pipeline, step.stepId, key, step.startedAt ?? run.startedAt);
  if (!prev) return { ...miss, summary: ["never run before: no earlier entry of this step"] };
  const changes = explainChanges({ record: prev.record, code: ws.actionCache.getCode(prev.record.code) }, { record: cur.record, code: ws.actionCache.getCode(cur.record.code) });
  return {
    ...miss,
    comparedWith: { key: prev.key, runId: prev.runId, createdAt: prev.createdAt },
    changes,
    summary: changes.length ? changes.map(formatChange) : ["no component differs from the earlier entry"],
  };
}
