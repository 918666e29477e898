import type { Digest } from "../util/canonical-json.ts";
import type { Workspace } from "./workspace.ts";

/** What `cache prune` would remove (or removed) and what it keeps. */
export interface PruneReport {
  readonly entries: { readonly total: number; readonly removed: number; readonly kept: number };
  readonly objects: { readonly total: number; readonly removed: number; readonly removedBytes: number; readonly keptBytes: number };
  readonly keptRuns: number;
  readonly applied: boolean;
}

/** Options of `prune`. */
export interface PruneOptions {
  /** Entries not used for this long may go. */
  readonly olderThanMs: number;
  /** After age, remove more (oldest first) until the objects fit. */
  readonly maxBytes?: number;
  /** The newest N runs of each pipeline keep everything they used. */
  readonly keepRuns: number;
  /** false: only report (dry run). */
  readonly apply: boolean;
}

/**
 * Garbage collection by reachability: whatever the newest `keepRuns` runs of each pipeline used
 * (cache keys and output digests) is kept, whatever their age; other action-cache entries go by
 * age and then by size, and an object goes when no remaining entry or kept run refers to it.
 */
export async function pruneCache(ws: Workspace, opts: PruneOptions): Promise<PruneReport> {
  const now = Date.now();
  const runIds = await ws.runs.recentRunIds(opts.keepRuns);
  const kept = await ws.runs.referencedBy(runIds);
  // Registered models and live deployments keep their ONNX bytes whatever their age.
  for (const d of await ws.models.referencedDigests()) kept.digests.add(d);
  const entries = ws.actionCache.list().sort((a, b) => a.createdAt - b.createdAt);
  const objects = ws.cas.listObjects();
  const sizeOf = new Map(objects.map((o) => [o.digest as string, o.size]));
  const removeKeys = new Set<string>();
  for (const e of entries) if (!kept.cacheKeys.has(e.key) && now - e.createdAt > opts.olderThanMs) removeKeys.add(e.key);

  // Folder outputs keep the files their manifest names; any other object is not a manifest.
  const manifests = new Map<string, string[]>();
  const dirEntries = (d: string): string[] => {
    let files = manifests.get(d);
    if (!files) {
      try {
        files = ws.cas.readDirManifest(d as Digest)?.entries.map((e) => e.digest) ?? [];
      } catch (err) {
        if ((err as { code?: string }).code !== "SLUICE_STORE_FAILED") throw err;
        files = [];
      }
      manifests.set(d, files);
    }
    return files;
  };
  const reachable = (): Set<string> => {
    const live = new Set<string>(kept.digests);
    for (const e of entries) if (!removeKeys.has(e.key)) for (const d of Object.values(e.outputs)) live.add(d);
    for (const d of [...live]) for (const f of dirEntries(d)) live.add(f);
    return live;
  };
  let live = reachable();
  const bytesOf = (set: Set<string>): number => [...set].reduce((n, d) => n + (sizeOf.get(d) ?? 0), 0);
  if (opts.maxBytes !== undefined) {
    for (const e of entries) {
      if (bytesOf(live) <= opts.maxBytes) break;
      if (kept.cacheKeys.has(e.key) || removeKeys.has(e.key)) continue;
      removeKeys.add(e.key);
      live = reachable();
    }
  }
  // Objects younger than the grace period may belong to a run still in progress.
  const graceMs = Math.min(opts.olderThanMs, 3_600_000);
  const dead = objects.filter((o) => !live.has(o.digest) && now - o.mtimeMs > graceMs);
  const removedBytes = dead.reduce((n, o) => n + o.size, 0);
  if (opts.apply) {
    ws.db.transaction(() => {
      ws.actionCache.remove(removeKeys);
      ws.cas.remove(dead.map((o) => o.digest));
    })();
  }
  return {
    entries: { total: entries.length, removed: removeKeys.size, kept: entries.length - removeKeys.size },
    objects: { total: objects.length, removed: dead.length, removedBytes, keptBytes: bytesOf(live) },
    keptRuns: runIds.length,
    applied: opts.apply,
  };
}
