import { statSync, type BigIntStats } from "node:fs";
import type Database from "better-sqlite3";
import { SluiceError } from "../errors.ts";
import type { Digest } from "../util/canonical-json.ts";
import { hashFile, type FileDigest } from "../util/hash-file.ts";
import { dirDigest, listDirFiles, toDirManifest, toFileStamp, type DirEntry, type DirManifest, type FileStamp } from "./dir-manifest.ts";

/** Options of `StatCache`; every field has a default. */
export interface StatCacheOptions {
  /**
   * Hashes a file whose stamp is unknown or changed. Tests inject a counting hasher.
   * @default hashFile
   */
  hasher?: (absPath: string) => Promise<FileDigest>;
  /**
   * Clock in epoch milliseconds, for the racy-file guard.
   * @default Date.now
   */
  nowMs?: () => number;
  /**
   * A file modified less than this long before it was hashed is hashed but not remembered: a
   * write in the same mtime tick (coarse on some filesystems) would not change its stamp.
   * @default 2000
   */
  racyWindowMs?: number;
  /**
   * Pending entries that trigger a write transaction.
   * @default 512
   */
  batchSize?: number;
  /**
   * Files of one folder hashed at the same time by `digestDir`.
   * @default 4
   */
  concurrency?: number;
}

/**
 * A remembered file: mtime and inode as the decimal strings stored, compared with a stat's
 * bigints turned to strings (parsing 20,000 bigints made a new process's load 25% slower).
 */
interface Stamp {
  size: number;
  mtimeNs: string;
  ino: string;
  digest: Digest;
}

interface Row {
  path: string;
  size: number;
  mtime_ns: string;
  ino: string;
  digest: string;
}

const DEFAULTS = { racyWindowMs: 2000, batchSize: 512, concurrency: 4 } as const;

function missing(absPath: string, cause: unknown): SluiceError {
  return new SluiceError("SLUICE_INPUT_MISSING", `input file ${absPath} does not exist. Create it, or fix the path that names it.`, { path: absPath }, { cause });
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

/**
 * Remembers (path, size, mtimeNs, ino) → digest in the cache database, so unchanged input files
 * are never re-read. The table is loaded into memory in one query on first use; new entries are
 * written in batched transactions. Entries are keyed by the full stamp, so processes that share
 * the database can only ever add true facts, never wrong ones.
 */
export class StatCache {
  readonly #db: Database.Database;
  readonly #hasher: (absPath: string) => Promise<FileDigest>;
  readonly #nowMs: () => number;
  readonly #racyWindowMs: number;
  readonly #batchSize: number;
  readonly #concurrency: number;
  readonly #selectAll: Database.Statement<[], [string, number, string, string, string]>;
  readonly #upsert: Database.Statement<[Row]>;
  readonly #writeBatch: (rows: Row[]) => void;
  #known: Map<string, Stamp> | undefined;
  readonly #pending = new Map<string, Row>();
  #flushScheduled = false;

  constructor(db: Database.Database, opts: StatCacheOptions = {}) {
    this.#db = db;
    this.#hasher = opts.hasher ?? ((p) => hashFile(p));
    this.#nowMs = opts.nowMs ?? Date.now;
    this.#racyWindowMs = opts.racyWindowMs ?? DEFAULTS.racyWindowMs;
    this.#batchSize = opts.batchSize ?? DEFAULTS.batchSize;
    this.#concurrency = Math.max(1, opts.concurrency ?? DEFAULTS.concurrency);
    db.exec(`CREATE TABLE IF NOT EXISTS stat_cache (
      path TEXT PRIMARY KEY,
      size INTEGER NOT NULL,
      mtime_ns TEXT NOT NULL,
      ino TEXT NOT NULL,
      digest TEXT NOT NULL
    )`);
    // Raw rows (arrays) load about a third faster than objects; this runs once per process.
    this.#selectAll = db.prepare<[], [string, number, string, string, string]>("SELECT path, size, mtime_ns, ino, digest FROM stat_cache").raw(true);
    this.#upsert = db.prepare<[Row]>(
      "INSERT OR REPLACE INTO stat_cache (path, size, mtime_ns, ino, digest) VALUES (@path, @size, @mtime_ns, @ino, @digest)",
    );
    this.#writeBatch = db.transaction((rows: Row[]) => {
      for (const r of rows) this.#upsert.run(r);
    });
  }

  /** Digest of a file; re-hashes only when its stamp changed. Missing file → SLUICE_INPUT_MISSING naming the path. */
  async digestFile(absPath: string): Promise<FileDigest> {
    let st: BigIntStats;
    try {
      st = statSync(absPath, { bigint: true });
    } catch (err) {
      if (isNotFound(err)) throw missing(absPath, err);
      throw err;
    }
    if (st.isDirectory()) {
      throw new SluiceError("SLUICE_INPUT_UNSUPPORTED", `input ${absPath} is a folder, but a file was expected. Declare the input as a folder, or name a file.`, { path: absPath });
    }
    if (!st.isFile()) {
      throw new SluiceError("SLUICE_INPUT_UNSUPPORTED", `input ${absPath} is not a regular file (socket, FIFO or device). Name a regular file.`, { path: absPath });
    }
    const stamp = toFileStamp(st);
    return this.#lookup(absPath, stamp) ?? (await this.#hash(absPath, stamp));
  }

  /** Digest of a folder (recursive walk, each file through the stat cache) and its manifest. */
  async digestDir(absPath: string): Promise<{ digest: Digest; manifest: DirManifest }> {
    const files = listDirFiles(absPath);
    const entries: DirEntry[] = new Array(files.length);
    const misses: number[] = [];
    files.forEach((f, i) => {
      const hit = this.#lookup(f.absPath, f);
      if (hit) entries[i] = { path: f.path, digest: hit.digest, size: hit.size, executable: f.executable };
      else misses.push(i);
    });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < misses.length) {
        const i = misses[next++]!;
        const f = files[i]!;
        const r = await this.#hash(f.absPath, f);
        entries[i] = { path: f.path, digest: r.digest, size: r.size, executable: f.executable };
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, misses.length) }, worker));
    this.flush();
    const manifest = toDirManifest(entries);
    return { digest: dirDigest(manifest), manifest };
  }

  /** Persist pending entries (batch writes in one transaction; also called automatically). */
  flush(): void {
    if (this.#pending.size === 0) return;
    const rows = [...this.#pending.values()];
    try {
      this.#writeBatch(rows);
    } catch (err) {
      throw new SluiceError(
        "SLUICE_STORE_FAILED",
        `stat cache could not save ${rows.length} entries: ${(err as Error).message}. Check the cache folder's free space and permissions; inputs will be re-hashed meanwhile.`,
        { entries: rows.length },
        { cause: err },
      );
    }
    this.#pending.clear();
  }

  #load(): Map<string, Stamp> {
    if (this.#known) return this.#known;
    const known = new Map<string, Stamp>();
    for (const [path, size, mtimeNs, ino, digest] of this.#selectAll.all()) {
      known.set(path, { size, mtimeNs, ino, digest: digest as Digest });
    }
    this.#known = known;
    return known;
  }

  #lookup(absPath: string, st: FileStamp): FileDigest | undefined {
    const s = this.#load().get(absPath);
    if (s && s.size === Number(st.size) && s.mtimeNs === st.mtimeNs.toString() && s.ino === st.ino.toString()) return { digest: s.digest, size: s.size };
    return undefined;
  }

  async #hash(absPath: string, st: FileStamp): Promise<FileDigest> {
    // The clock is read before the file is: a write after this instant gets a later mtime tick.
    const startedMs = this.#nowMs();
    let r: FileDigest;
    try {
      r = await this.#hasher(absPath);
    } catch (err) {
      if (isNotFound(err)) throw missing(absPath, err);
      throw err;
    }
    const mtimeMs = Number(st.mtimeNs / 1_000_000n);
    const racy = startedMs - mtimeMs < this.#racyWindowMs;
    // A size that differs from the stat means the file changed under us: do not remember either.
    if (!racy && BigInt(r.size) === st.size) this.#remember(absPath, st, r);
    return r;
  }

  #remember(absPath: string, st: FileStamp, r: FileDigest): void {
    const mtimeNs = st.mtimeNs.toString();
    const ino = st.ino.toString();
    this.#load().set(absPath, { size: Number(st.size), mtimeNs, ino, digest: r.digest });
    this.#pending.set(absPath, { path: absPath, size: r.size, mtime_ns: mtimeNs, ino, digest: r.digest });
    if (this.#pending.size >= this.#batchSize) this.flush();
    else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        // Best effort: a closed or busy database leaves the entries pending for an explicit flush().
        if (!this.#db.open) return;
        try {
          this.flush();
        } catch {
          /* the stat cache is an optimisation; the next explicit flush() reports the failure */
        }
      });
    }
  }
}
