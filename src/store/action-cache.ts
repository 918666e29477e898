import type Database from "better-sqlite3";
import { isAscii } from "node:buffer";
import type { CacheKey, KeyRecord } from "../hash/cache-key.ts";
import type { CodeFiles } from "../hash/explain.ts";
import type { Digest } from "../util/canonical-json.ts";
import type { CacheDb } from "./cache-db.ts";
import { DigestTable, type DigestSet } from "./digest-table.ts";

/** What a cache hit needs: the outputs and when they were made. */
export interface ActionHit {
  readonly key: CacheKey;
  readonly outputs: Readonly<Record<string, Digest>>;
  readonly createdAt: number;
}

/** A full action-cache entry. */
export interface ActionEntry extends ActionHit {
  /** The key's components, for `explain`. */
  readonly record: KeyRecord;
  readonly pipeline: string;
  readonly stepId: string;
  readonly runId: string;
  readonly durationMs: number;
  /** `record` as JSON, when the caller has it already (the canonical JSON its key hashed). */
  readonly recordJson?: string;
}

/** A shared action cache behind the local one (see store/remote-cache). */
export interface ActionCacheRemote {
  /** A verified entry whose output objects are now stored locally, or undefined. Never throws. */
  fetchEntry(key: CacheKey): ActionEntry | undefined;
  /** Shares an entry recorded here (asynchronously; never slows the caller). */
  publish(entry: ActionEntry): void;
}

/** The port name of the last entry `parseOutputs` cut out: a run's entries mostly share it. */
let lastPort = "";

/**
 * An entry's outputs from `text[start, end)`, their stored JSON. The usual one-port form
 * `{"port":"digest"}` is cut out directly, the port name reused from the entry before when it is
 * the same (10,000 entries: JSON.parse 2.1 ms, this 0.7); anything else is parsed.
 */
export function parseOutputs(text: string, start: number, end: number): Record<string, Digest> {
  // {"port":"digest"}
  if (text.charCodeAt(start) === 123 && text.charCodeAt(start + 1) === 34 && text.charCodeAt(end - 2) === 34 && text.charCodeAt(end - 1) === 125) {
    let q = start + 2 + lastPort.length;
    let port = lastPort;
    if (port === "" || text.charCodeAt(q) !== 34 || !text.startsWith(port, start + 2)) {
      q = text.indexOf('"', start + 2);
      port = text.slice(start + 2, q);
    }
    if (q > 0 && text.startsWith('":"', q) && text.indexOf('"', q + 3) === end - 2 && port !== "__proto__") {
      const digest = text.slice(q + 3, end - 2);
      if (port.indexOf("\\") < 0 && digest.indexOf("\\") < 0) {
        lastPort = port;
        const outputs: Record<string, Digest> = {};
        outputs[port] = digest as Digest;
        return outputs;
      }
    }
  }
  return JSON.parse(text.slice(start, end)) as Record<string, Digest>;
}

/** The entry of the line of a preload's text whose key (`key`) starts at `at`: `key created_at outputs`. */
function hitAt(text: string, at: number, key: CacheKey): ActionHit {
  const a = at + key.length;
  const b = text.indexOf(" ", a + 1);
  let end = text.indexOf("\n", b + 1);
  if (end < 0) end = text.length;
  return { key, outputs: parseOutputs(text, b + 1, end), createdAt: Number(text.slice(a + 1, b)) };
}

/** The smallest line of a preload's text: a 71-character key, a one-digit time and `{}`. */
const MIN_LINE = 71 + 1 + 1 + 1 + 2 + 1;

/**
 * A text SQLite built as a BLOB: ASCII (keys, digests, numbers; outputs JSON almost always) is
 * copied byte for byte, 1.3 ms faster for a 10,000-entry preload than SQLite's UTF-8 text.
 */
function asText(b: Buffer | null): string {
  if (b === null) return "";
  return b.toString(isAscii(b) ? "latin1" : "utf8");
}

/**
 * Cache key → output digests, with the key's manifest. Lives in the cache database, so an entry
 * and the small objects it names commit in one transaction.
 */
export class ActionCache {
  readonly #get;
  readonly #put;
  readonly #newest;
  readonly #putCode;
  readonly #getCode;
  readonly #all;
  readonly #del;
  readonly #count;
  readonly #db: CacheDb;
  #byPipeline: Database.Statement<[string]> | undefined;
  /** The same read as a scan of the table, for when it holds no other pipeline's entries. */
  #wholeTable: Database.Statement<[string]> | undefined;
  #inlineRows: Database.Statement<[]> | undefined;
  #allInline: Database.Statement<[]> | undefined;
  #someInline: Database.Statement<[string]> | undefined;
  /**
   * The entries of the last preload, as read: lines of `key created_at outputs`, found by key
   * and parsed when asked for (each is asked for about once a run).
   */
  #preloaded: DigestTable | undefined;
  /** Entries recorded since the preload, or read row by row: looked up before `#preloaded`. */
  #added = new Map<string, ActionHit>();
  /**
   * The pipeline the preload read, the database's `data_version` when it was read, and whether
   * the table held no other pipeline's entries then (the preload was all of it).
   */
  #preloadedFor: { pipeline: string; version: number; whole: boolean } | undefined;
  #otherPipelines: Database.Statement<[string, string]> | undefined;
  readonly #batchVersion: () => number | undefined;
  readonly #dataVersion;

  readonly #remote: ActionCacheRemote | undefined;

  /**
   * With `remote`, a local miss is looked up there, and every entry put here is shared there.
   * `batchVersion` gives the `data_version` as the open write batch began (`GroupCommit.batchVersion`):
   * with it, a key missing from a preload that was the whole table is a miss without a query.
   */
  constructor(db: CacheDb, opts: { remote?: ActionCacheRemote; batchVersion?: () => number | undefined } = {}) {
    this.#remote = opts.remote;
    this.#batchVersion = opts.batchVersion ?? (() => undefined);
    db.exec(`
      CREATE TABLE IF NOT EXISTS action_cache (
        key TEXT PRIMARY KEY, outputs TEXT NOT NULL, record TEXT NOT NULL, pipeline TEXT NOT NULL,
        step_id TEXT NOT NULL, run_id TEXT NOT NULL, created_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS action_cache_by_step ON action_cache (pipeline, step_id, created_at);
      CREATE TABLE IF NOT EXISTS code_manifests (digest TEXT PRIMARY KEY, manifest TEXT NOT NULL);
    `);
    this.#get = db.prepare("SELECT outputs, created_at FROM action_cache WHERE key = ?");
    this.#put = db.prepare("INSERT OR REPLACE INTO action_cache VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    this.#newest = db.prepare("SELECT * FROM action_cache WHERE pipeline = ? AND step_id = ? AND key != ? ORDER BY created_at DESC, rowid DESC LIMIT 1");
    this.#putCode = db.prepare("INSERT OR IGNORE INTO code_manifests VALUES (?, ?)");
    this.#getCode = db.prepare("SELECT manifest FROM code_manifests WHERE digest = ?");
    this.#all = db.prepare("SELECT key, outputs, created_at FROM action_cache");
    this.#del = db.prepare("DELETE FROM action_cache WHERE key = ?");
    this.#count = db.prepare("SELECT COUNT(*) AS n FROM action_cache");
    this.#dataVersion = db.prepare("PRAGMA data_version").pluck();
    this.#db = db;
  }

  /**
   * Reads every entry of a pipeline in one query, so a large cached run does one lookup instead
   * of one per step. Entries written later by other processes are still found (by key).
   * Returns inline objects that are present: at least every output of those entries that is
   * stored inline (see `#presentInline`).
   *
   * A second preload of the same pipeline reads nothing when no other connection has written
   * the database since (SQLite's `data_version`) and nothing was removed here: the entries in
   * memory are still exactly the stored ones, because every entry this process writes goes
   * through `#record`, which keeps them. It returns undefined then: nothing was read.
   */
  preload(pipeline: string): DigestSet | undefined {
    const version = this.#dataVersion.get() as number;
    if (this.#preloadedFor?.pipeline === pipeline && this.#preloadedFor.version === version) return undefined;
    this.forget();
    let entries = 0;
    // Two probes of the (pipeline, ...) index: is any entry filed under another pipeline?
    this.#otherPipelines ??= this.#db.prepare<[string, string]>("SELECT EXISTS (SELECT 1 FROM action_cache WHERE pipeline < ?) OR EXISTS (SELECT 1 FROM action_cache WHERE pipeline > ?)").pluck();
    const whole = this.#otherPipelines.get(pipeline, pipeline) === 0;
    // One text for all the rows (`key created_at outputs` lines): SQLite builds it, and V8 makes
    // one string instead of three values per row (10,000 entries: 13.3 → 10.6 ms with the parsing),
    // read as bytes (see `asText`). Keys are hex and outputs JSON without raw newlines, so neither
    // holds a separator. When every entry is this pipeline's, the table is read in its own order
    // instead of through the index, which costs a lookup of the row per entry (10,000 entries:
    // 4.5–5.2 → 3.1–3.2 ms).
    const lines = "SELECT CAST(group_concat(key || ' ' || created_at || ' ' || outputs, char(10)) AS BLOB) FROM action_cache";
    const byPipeline = whole
      ? (this.#wholeTable ??= this.#db.prepare<[string]>(`${lines} NOT INDEXED WHERE pipeline = ?`).pluck())
      : (this.#byPipeline ??= this.#db.prepare<[string]>(`${lines} WHERE pipeline = ?`).pluck());
    try {
      const text = asText(byPipeline.get(pipeline) as Buffer | null);
      if (text) {
        this.#preloaded = DigestTable.ofPieces(text, "\n", 32, Math.ceil(text.length / MIN_LINE)); // a key ends at a space
        entries = this.#preloaded.size;
      }
    } catch {
      // Millions of entries make a string longer than SQLite or V8 allows: read them row by row.
      for (const [key, json, createdAt] of this.#db.prepare<[string]>("SELECT key, outputs, created_at FROM action_cache WHERE pipeline = ?").raw(true).iterate(pipeline) as Iterable<[CacheKey, string, number]>) {
        this.#added.set(key, { key, outputs: JSON.parse(json) as Record<string, Digest>, createdAt });
        entries++;
      }
    }
    this.#preloadedFor = { pipeline, version, whole };
    return this.#presentInline(entries);
  }

  /** The output digests of the preloaded entries. */
  #preloadedOutputs(): string[] {
    const digests: string[] = [];
    const text = this.#preloaded?.text ?? "";
    for (let pos = 0; pos < text.length; ) {
      let end = text.indexOf("\n", pos);
      if (end < 0) end = text.length;
      const b = text.indexOf(" ", text.indexOf(" ", pos) + 1);
      const outputs = parseOutputs(text, b + 1, end);
      for (const port in outputs) digests.push(outputs[port]!);
      pos = end + 1;
    }
    for (const hit of this.#added.values()) for (const port in hit.outputs) digests.push(hit.outputs[port]!);
    return digests;
  }

  /**
   * Which outputs of the `entries` just preloaded are inline objects (present in the same
   * database), in one query: when the CAS holds few inline objects beside them, all their digests
   * are read (and all returned: still only present ones), else the outputs are looked up. Reading
   * 10,000 digests whole took 3.6 ms, looking them up 10.5 ms; a shared cache of a million would
   * take far longer to read whole.
   */
  #presentInline(entries: number): DigestSet {
    if (entries === 0) return new Set();
    // Prepared on first use: the CAS owns (and creates) the cas_inline table. max(rowid) is a
    // B-tree's last row, not a count: an upper bound on the rows, read at once.
    this.#inlineRows ??= this.#db.prepare<[]>("SELECT max(rowid) FROM cas_inline").pluck();
    const rows = (this.#inlineRows.get() as number | null) ?? 0;
    if (rows <= 3 * entries) {
      // As one string: one conversion from SQLite instead of one per digest, and no string per digest.
      this.#allInline ??= this.#db.prepare<[]>("SELECT CAST(group_concat(digest, ' ') AS BLOB) FROM cas_inline").pluck();
      try {
        return DigestTable.ofPieces(asText(this.#allInline.get() as Buffer | null), " ", 32, rows);
      } catch {
        // Longer than SQLite or V8 allows a string to be: look the outputs up instead.
      }
    }
    this.#someInline ??= this.#db.prepare<[string]>("SELECT digest FROM cas_inline WHERE digest IN (SELECT value FROM json_each(?))").pluck();
    return new Set(this.#someInline.all(JSON.stringify(this.#preloadedOutputs())) as string[]);
  }

  /** The entry for a key, or undefined. A local miss is looked up in the remote cache, and a hit there recorded here. */
  get(key: CacheKey): ActionHit | undefined {
    const local = this.getLocal(key);
    if (local) return local;
    const shared = this.#remote?.fetchEntry(key);
    if (!shared) return undefined;
    this.#record(shared);
    return { key, outputs: shared.outputs, createdAt: shared.createdAt };
  }

  /** The entry for a key in this cache only (never asks the remote cache). */
  getLocal(key: CacheKey): ActionHit | undefined {
    // Size first: a Map hashes the 71-character key even when it is empty.
    const added = this.#added.size === 0 ? undefined : this.#added.get(key);
    if (added) return added;
    const at = this.#preloaded ? this.#preloaded.find(key) : -1;
    if (at >= 0) return hitAt(this.#preloaded!.text, at, key);
    // The preload was the whole table and no other connection has written since: every entry
    // is in memory (this process's own writes go through #record). A cold 10,000-step run asked
    // SQLite 10,000 times for keys that could not be there.
    if (this.#preloadedFor?.whole && this.#batchVersion() === this.#preloadedFor.version) return undefined;
    const row = this.#get.get(key) as { outputs: string; created_at: number } | undefined;
    return row && { key, outputs: JSON.parse(row.outputs), createdAt: row.created_at };
  }

  /** Records an entry fetched (and verified) from the remote cache; it is not shared back. */
  putFetched(e: ActionEntry): void {
    this.#record(e);
  }

  /** Records (or replaces, after `--force`) an entry, and shares it with the remote cache. */
  put(e: ActionEntry): void {
    this.#record(e);
    this.#remote?.publish(e);
  }

  #record(e: ActionEntry): void {
    if (this.#preloadedFor) this.#added.set(e.key, { key: e.key, outputs: e.outputs, createdAt: e.createdAt });
    this.#put.run(e.key, JSON.stringify(e.outputs), e.recordJson ?? JSON.stringify(e.record), e.pipeline, e.stepId, e.runId, e.createdAt, Math.round(e.durationMs));
  }

  /** The newest entry of the same pipeline step other than `exceptKey`: what `explain` diffs against. */
  newestFor(pipeline: string, stepId: string, exceptKey: string): ActionEntry | undefined {
    const r = this.#newest.get(pipeline, stepId, exceptKey) as Record<string, string | number> | undefined;
    if (!r) return undefined;
    return {
      key: r.key as CacheKey, outputs: JSON.parse(r.outputs as string), createdAt: r.created_at as number, record: JSON.parse(r.record as string),
      pipeline: r.pipeline as string, stepId: r.step_id as string, runId: r.run_id as string, durationMs: r.duration_ms as number,
    };
  }

  /** Stores a code manifest once per digest. */
  putCode(digest: Digest, code: CodeFiles): void {
    this.#putCode.run(digest, JSON.stringify(code));
  }

  /** A stored code manifest. */
  getCode(digest: Digest): CodeFiles | undefined {
    const r = this.#getCode.get(digest) as { manifest: string } | undefined;
    return r && JSON.parse(r.manifest);
  }

  /** Every entry's key, outputs and age (for garbage collection). */
  list(): ActionHit[] {
    return (this.#all.all() as Array<{ key: CacheKey; outputs: string; created_at: number }>).map((r) => ({ key: r.key, outputs: JSON.parse(r.outputs), createdAt: r.created_at }));
  }

  /** Forgets every entry held in memory (after a lost write batch); the next lookups read the database. */
  forget(): void {
    this.#preloaded = undefined;
    this.#added = new Map();
    this.#preloadedFor = undefined;
  }

  /** Deletes entries. */
  remove(keys: Iterable<string>): number {
    this.forget();
    let n = 0;
    for (const k of keys) n += this.#del.run(k).changes;
    return n;
  }

  /** Number of entries. */
  count(): number {
    return (this.#count.get() as { n: number }).n;
  }
}
