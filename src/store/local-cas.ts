import { randomBytes } from "node:crypto";
import {
  chmodSync, closeSync, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync,
  renameSync, rmSync, statSync, unlinkSync, type BigIntStats,
} from "node:fs";
import { chmod, copyFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type Database from "better-sqlite3";
import { SluiceError } from "../errors.ts";
import { digestHex, isDigest, sha256, type Digest } from "../util/canonical-json.ts";
import { hashFile, hashFileSync } from "../util/hash-file.ts";
import type { DigestSet } from "./digest-table.ts";
import { dirManifestJson, listDirFiles, parseDirManifest, toDirManifest, type DirEntry, type DirManifest } from "./dir-manifest.ts";
import { corruptObject, digestFromPath, errCode, forEachLimit, fsyncPath, listObjectFiles, placeObjectFile, removeDeadTmp, storeFailed, writeNewFileSynced } from "./object-files.ts";

/** Objects up to this size are database rows by default; larger ones are files. */
export const INLINE_MAX_BYTES = 16384;

/** What `check` finds for a digest. */
export type ObjectState = "ok" | "missing" | "corrupt";

/** Options of `LocalCas`. */
export interface LocalCasOptions {
  /** Cache root; `objects/`, `tmp/` and `quarantine/` live under it. */
  dir: string;
  /** The cache database (WAL, busy_timeout set by its opener). */
  db: Database.Database;
  /**
   * Objects up to this size are rows of `cas_inline` instead of files.
   * @default 16384
   */
  inlineMaxBytes?: number;
  /** A shared cache asked on a local miss (read-through); see store/remote-cache. */
  remote?: CasRemote;
}

/** A cache behind the local one. `LocalCas` asks it only for objects it does not have. */
export interface CasRemote {
  /**
   * Fetches the objects (and, for a folder manifest, its member files) into `cas`, each digest
   * verified; returns those now stored locally. Never throws: trouble is a miss and a warning.
   */
  fetchObjects(digests: readonly Digest[], cas: LocalCas): ReadonlySet<Digest>;
}

interface VerifiedRow { size: number; mtime_ns: string; ino: string }

const FILES_AT_ONCE = 4;

/** Bytes of recently stored or read objects kept in memory (`#recent`). */
const RECENT_MAX_BYTES = 32 * 2 ** 20;

/**
 * Content-addressed store in the local cache folder. Small objects are rows of `cas_inline`;
 * larger ones are read-only files `objects/<2 hex>/<62 hex>`, written to `tmp/` first, fsynced and
 * renamed into place, so every write is atomic and idempotent for any number of processes sharing
 * the folder. Reads verify the digest; a corrupt object is quarantined and reported, never returned.
 */
export class LocalCas {
  /** Cache root. */
  readonly dir: string;
  readonly #objectsDir: string;
  readonly #tmpDir: string;
  readonly #quarantineDir: string;
  readonly #inlineMax: number;
  readonly #remote: CasRemote | undefined;
  readonly #insertInline: Database.Statement<[string, number, Buffer, number]>;
  readonly #getInline: Database.Statement<[string], { bytes: Buffer }>;
  readonly #hasInline: Database.Statement<[string], { one: number }>;
  /** Small objects this process stored itself, hashed as they went in: read back without a query. */
  readonly #recent = new Map<string, Buffer>();
  #recentBytes = 0;
  /** Inline objects this process stored. */
  #knownInline = new Set<string>();
  /** Inline objects a bulk query found present (see `notePresentInline`). */
  #presentInline: DigestSet | undefined;
  readonly #db: Database.Database;
  /** Objects written (or re-stamped) inside the connection's open transaction: other connections cannot see them yet. */
  readonly #uncommitted = new Set<string>();
  readonly #deleteInline: Database.Statement<[string]>;
  readonly #listInline: Database.Statement<[], { digest: string; size: number; created_ms: number }>;
  readonly #inlineTotals: Database.Statement<[], { n: number; bytes: number }>;
  readonly #getVerified: Database.Statement<[string], VerifiedRow>;
  readonly #putVerified: Database.Statement<[string, number, string, string]>;
  readonly #deleteVerified: Database.Statement<[string]>;

  constructor(opts: LocalCasOptions) {
    this.dir = opts.dir;
    this.#objectsDir = join(opts.dir, "objects");
    this.#tmpDir = join(opts.dir, "tmp");
    this.#quarantineDir = join(opts.dir, "quarantine");
    this.#inlineMax = opts.inlineMaxBytes ?? INLINE_MAX_BYTES;
    this.#remote = opts.remote;
    try {
      mkdirSync(this.#objectsDir, { recursive: true });
      mkdirSync(this.#tmpDir, { recursive: true });
    } catch (err) {
      throw storeFailed("create its folders under", opts.dir, err);
    }
    const db = opts.db;
    this.#db = db;
    db.exec(`CREATE TABLE IF NOT EXISTS cas_inline (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, bytes BLOB NOT NULL, created_ms INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS cas_verified (digest TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns TEXT NOT NULL, ino TEXT NOT NULL);`);
    this.#insertInline = db.prepare("INSERT OR IGNORE INTO cas_inline (digest, size, bytes, created_ms) VALUES (?, ?, ?, ?)");
    this.#getInline = db.prepare("SELECT bytes FROM cas_inline WHERE digest = ?");
    this.#hasInline = db.prepare("SELECT 1 AS one FROM cas_inline WHERE digest = ?");
    this.#deleteInline = db.prepare("DELETE FROM cas_inline WHERE digest = ?");
    this.#listInline = db.prepare("SELECT digest, size, created_ms FROM cas_inline");
    this.#inlineTotals = db.prepare("SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM cas_inline");
    this.#getVerified = db.prepare("SELECT size, mtime_ns, ino FROM cas_verified WHERE digest = ?");
    this.#putVerified = db.prepare("INSERT OR REPLACE INTO cas_verified (digest, size, mtime_ns, ino) VALUES (?, ?, ?, ?)");
    this.#deleteVerified = db.prepare("DELETE FROM cas_verified WHERE digest = ?");
  }

  /** Store bytes; returns the digest. Sync and idempotent. */
  putBytes(bytes: Uint8Array): Digest {
    const digest = sha256(bytes);
    const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buf.length <= this.#inlineMax) {
      this.#insertInline.run(digest, buf.length, buf, Date.now());
      if (this.#db.inTransaction) this.#uncommitted.add(digest);
      this.#knownInline.add(digest);
      this.#remember(digest, Buffer.from(buf));
      return digest;
    }
    if (this.#checkFile(digest) !== "ok") this.#writeObject(digest, buf);
    return digest;
  }

  /**
   * Store a file's content. With `move: true` the source is consumed: renamed into the store when
   * it is on the same filesystem (e.g. under `makeTempDir()`) and has no other hard link, else
   * copied and deleted. Move only files that nothing writes any more.
   */
  async putFile(srcPath: string, opts: { move?: boolean } = {}): Promise<{ digest: Digest; size: number }> {
    let st: BigIntStats;
    try {
      st = lstatSync(srcPath, { bigint: true });
    } catch (err) {
      if (errCode(err) === "ENOENT") throw new SluiceError("SLUICE_INPUT_MISSING", `file ${srcPath} to be stored in the cache does not exist. Make sure the step wrote it.`, { path: srcPath }, { cause: err });
      throw storeFailed("read", srcPath, err);
    }
    if (!st.isFile()) {
      const kind = st.isDirectory() ? "a folder (store it with putDir)" : st.isSymbolicLink() ? "a symlink (store a copy of its target)" : "not a regular file";
      throw new SluiceError("SLUICE_INPUT_UNSUPPORTED", `${srcPath} is ${kind}; only regular files can be stored with putFile.`, { path: srcPath });
    }
    if (st.size <= BigInt(this.#inlineMax)) {
      const bytes = readFileSync(srcPath);
      const digest = this.putBytes(bytes);
      if (opts.move) rmSync(srcPath, { force: true });
      return { digest, size: bytes.length };
    }
    if (opts.move && st.nlink === 1n) {
      const { digest, size } = await hashFile(srcPath);
      const final = this.#objectPath(digest);
      if (this.#checkFile(digest) === "ok") {
        rmSync(srcPath, { force: true });
        return { digest, size };
      }
      try {
        fsyncPath(srcPath);
        chmodSync(srcPath, 0o444);
        this.#install(srcPath, final);
        return { digest, size };
      } catch (err) {
        // Another filesystem: fall through to copy + delete.
        if (!(err instanceof SluiceError && errCode(err.cause) === "EXDEV")) throw err instanceof SluiceError ? err : storeFailed("move", srcPath, err);
      }
    }
    const tmp = this.#tmpName();
    try {
      await copyFile(srcPath, tmp);
      fsyncPath(tmp);
      const { digest, size } = await hashFile(tmp);
      await chmod(tmp, 0o444);
      if (this.#checkFile(digest) === "ok") rmSync(tmp, { force: true });
      else this.#install(tmp, this.#objectPath(digest));
      if (opts.move) rmSync(srcPath, { force: true });
      return { digest, size };
    } catch (err) {
      rmSync(tmp, { force: true });
      if (err instanceof SluiceError) throw err;
      throw storeFailed("copy", srcPath, err);
    }
  }

  /** Store every file of a folder plus its manifest (canonical JSON bytes, an object too); returns the folder digest. */
  async putDir(srcDir: string, opts: { move?: boolean } = {}): Promise<{ digest: Digest; manifest: DirManifest }> {
    const files = listDirFiles(srcDir);
    const entries: DirEntry[] = new Array(files.length);
    await forEachLimit(files, FILES_AT_ONCE, async (f, i) => {
      const { digest, size } = await this.putFile(f.absPath, opts);
      entries[i] = { path: f.path, digest, size, executable: f.executable };
    });
    const manifest = toDirManifest(entries);
    // sha256 of the canonical JSON is exactly dirDigest(manifest).
    const digest = this.putBytes(Buffer.from(dirManifestJson(manifest), "utf8"));
    return { digest, manifest };
  }

  /**
   * Holds a small object's bytes (known to hash to `digest`) for reads without a query; the oldest
   * go past RECENT_MAX_BYTES. One already held becomes the newest again.
   */
  #remember(digest: string, bytes: Buffer): void {
    const held = this.#recent.get(digest);
    if (held) {
      this.#recent.delete(digest);
      this.#recent.set(digest, held);
      return;
    }
    this.#recent.set(digest, bytes);
    this.#recentBytes += bytes.length;
    if (this.#recentBytes <= RECENT_MAX_BYTES) return;
    // Keep at most ~32 MiB, oldest out first (a Map iterates in insertion order).
    for (const [d, b] of this.#recent) {
      if (this.#recentBytes <= RECENT_MAX_BYTES) break;
      this.#recent.delete(d);
      this.#recentBytes -= b.length;
    }
  }

  /**
   * Replaces the notes of present inline objects with those one bulk query (a run's preload) just
   * found, so cache hits skip a lookup each. Older notes go: another process may have removed
   * those objects since (prune). A stale note shows up as a missing object on read, never a wrong one.
   * The set is taken over, not copied: the caller must not use it afterwards.
   */
  notePresentInline(digests: DigestSet): void {
    this.#presentInline = digests;
    this.#knownInline.clear();
  }

  /** State of an object; a local miss is fetched from the remote cache first, when there is one. */
  check(digest: Digest): ObjectState {
    const state = this.localCheck(digest);
    if (state !== "missing" || !this.#remote?.fetchObjects([digest], this).has(digest)) return state;
    return this.localCheck(digest);
  }

  /** State of an object in this folder only (never asks the remote cache). */
  localCheck(digest: Digest): ObjectState {
    // Size first: a Set hashes the 71-character digest even when it is empty.
    if ((this.#knownInline.size !== 0 && this.#knownInline.has(digest)) || this.#presentInline?.has(digest)) return "ok";
    if (this.#hasInline.get(this.#valid(digest))) return "ok";
    return this.#checkFile(digest);
  }

  /** Bytes of an object, digest verified (a local miss is fetched from the remote cache first). Missing → undefined; mismatch → quarantined and SLUICE_CACHE_CORRUPT thrown. */
  getBytes(digest: Digest): Buffer | undefined {
    const local = this.#localBytes(digest);
    if (local || !this.#remote?.fetchObjects([digest], this).has(digest)) return local;
    return this.#localBytes(digest);
  }

  #localBytes(digest: Digest): Buffer | undefined {
    const hot = this.#recent.get(digest);
    if (hot) return hot;
    const row = this.#getInline.get(this.#valid(digest));
    if (row) {
      if (sha256(row.bytes) === digest) return row.bytes;
      this.#deleteInline.run(digest);
      this.#knownInline.delete(digest);
      this.#presentInline = undefined; // it may list the digest
      throw corruptObject(digest, "table cas_inline", "deleted", sha256(row.bytes));
    }
    const path = this.#objectPath(digest);
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (err) {
      if (errCode(err) === "ENOENT") return undefined;
      throw storeFailed("read", path, err);
    }
    let bytes: Buffer;
    let st: BigIntStats;
    try {
      st = fstatSync(fd, { bigint: true });
      bytes = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
    const actual = sha256(bytes);
    if (actual !== digest) throw corruptObject(digest, path, this.#quarantine(digest), actual);
    this.#record(digest, st);
    return bytes;
  }

  /** Path of a verified, read-only file holding the object (inline objects are written out first). Missing → undefined; corrupt → as getBytes. */
  filePath(digest: Digest): string | undefined {
    const local = this.#localFilePath(digest);
    if (local || !this.#remote?.fetchObjects([digest], this).has(digest)) return local;
    return this.#localFilePath(digest);
  }

  /**
   * Installs a complete, fsynced, read-only file under `digest`, which the caller has verified
   * its content hashes to (a body streamed in from the remote cache). The file is consumed.
   */
  adoptVerifiedFile(path: string, digest: Digest): void {
    if (this.#checkFile(digest) === "ok") rmSync(path, { force: true });
    else this.#install(path, this.#objectPath(digest));
  }

  /** Where an object is held here, without reading a file: a row's bytes, or a verified file. Never asks the remote cache. */
  localObject(digest: Digest): { bytes: Buffer } | { path: string; size: number } | undefined {
    const hot = this.#recent.get(digest) ?? this.#getInline.get(this.#valid(digest))?.bytes;
    if (hot) return { bytes: hot };
    if (this.#checkFile(digest) !== "ok") return undefined;
    const path = this.#objectPath(digest);
    return { path, size: statSync(path).size };
  }

  #localFilePath(digest: Digest): string | undefined {
    const path = this.#objectPath(digest);
    const state = this.#checkFile(digest);
    if (state === "ok") return path;
    if (state === "corrupt") throw corruptObject(digest, path, this.#quarantine(digest), undefined);
    const row = this.#getInline.get(digest);
    if (!row) return undefined;
    const bytes = this.#localBytes(digest);
    if (!bytes) return undefined;
    this.#writeObject(digest, bytes);
    return path;
  }

  /**
   * Recreate a stored folder at `dest` (created if needed; its files must not exist yet): hard links
   * where possible, else copies; files read-only. A missing or corrupt member throws
   * SLUICE_CACHE_CORRUPT, which callers treat as a miss.
   */
  async materializeDir(digest: Digest, dest: string): Promise<void> {
    const m = this.readDirManifest(digest);
    if (!m) throw new SluiceError("SLUICE_CACHE_CORRUPT", `folder object ${digest} is missing from the cache at ${this.dir}. The step that produced it will rerun.`, { digest, missing: true });
    mkdirSync(dest, { recursive: true });
    await forEachLimit(m.entries, FILES_AT_ONCE, async (e) => {
      const src = this.filePath(e.digest);
      if (!src) throw new SluiceError("SLUICE_CACHE_CORRUPT", `file "${e.path}" (${e.digest}) of folder object ${digest} is missing from the cache. The step that produced it will rerun.`, { digest, member: e.digest, path: e.path, missing: true });
      await placeObjectFile(src, join(dest, ...e.path.split("/")), e.executable);
    });
  }

  /** Manifest of a stored folder; undefined when missing. An object that is not a manifest → SLUICE_STORE_FAILED. */
  readDirManifest(digest: Digest): DirManifest | undefined {
    const bytes = this.getBytes(digest);
    if (!bytes) return undefined;
    const m = parseDirManifest(bytes);
    if (!m) throw new SluiceError("SLUICE_STORE_FAILED", `cache object ${digest} is not a folder manifest. Pass the digest returned by putDir.`, { digest });
    return toDirManifest(m.entries);
  }

  /** Counts and bytes of all objects (`objects`, `bytes`) and of the inline ones among them. An inline object written out by filePath() counts twice. */
  stats(): { objects: number; bytes: number; inlineObjects: number; inlineBytes: number } {
    const t = this.#inlineTotals.get()!;
    let objects = t.n;
    let bytes = t.bytes;
    for (const o of listObjectFiles(this.#objectsDir)) {
      objects++;
      bytes += o.size;
    }
    return { objects, bytes, inlineObjects: t.n, inlineBytes: t.bytes };
  }

  /** Re-hash every object; corrupt ones are quarantined (files) or deleted (rows) and reported. */
  async verifyAll(onProgress?: (done: number, total: number) => void): Promise<{ checked: number; corrupt: Digest[] }> {
    const all = this.listObjects();
    const corrupt: Digest[] = [];
    let done = 0;
    for (const o of all) {
      if (o.inline) {
        const row = this.#getInline.get(o.digest);
        if (row && sha256(row.bytes) !== o.digest) {
          this.#deleteInline.run(o.digest);
          this.#knownInline.delete(o.digest);
          this.#presentInline = undefined; // it may list the digest
          corrupt.push(o.digest);
        }
      } else {
        const path = this.#objectPath(o.digest);
        try {
          const st = statSync(path, { bigint: true });
          if ((await hashFile(path)).digest === o.digest) this.#record(o.digest, st);
          else {
            this.#quarantine(o.digest);
            corrupt.push(o.digest);
          }
        } catch (err) {
          if (errCode(err) !== "ENOENT") throw storeFailed("read", path, err); // removed meanwhile: nothing to verify
        }
      }
      onProgress?.(++done, all.length);
    }
    return { checked: done, corrupt };
  }

  /** Every object with size and last-modified time (for garbage collection); an inline object written out by filePath() is listed twice. */
  listObjects(): Array<{ digest: Digest; size: number; mtimeMs: number; inline: boolean }> {
    const inline = this.#listInline.all().map((r) => ({ digest: r.digest as Digest, size: r.size, mtimeMs: r.created_ms, inline: true }));
    return [...inline, ...listObjectFiles(this.#objectsDir).map((o) => ({ ...o, inline: false }))];
  }

  /** Forgets which objects this process has seen or stored (after a lost write batch, or a removal). */
  forget(): void {
    this.#uncommitted.clear();
    this.#knownInline.clear();
    this.#presentInline = undefined;
    this.#recent.clear();
    this.#recentBytes = 0;
  }

  /** Delete objects (ignores missing); returns how many existed. */
  remove(digests: Iterable<Digest>): number {
    this.forget();
    let removed = 0;
    for (const d of digests) {
      let found = this.#deleteInline.run(this.#valid(d)).changes > 0;
      this.#deleteVerified.run(d);
      try {
        unlinkSync(this.#objectPath(d));
        found = true;
      } catch (err) {
        if (errCode(err) !== "ENOENT") throw storeFailed("delete", this.#objectPath(d), err);
      }
      if (found) removed++;
    }
    return removed;
  }

  /** Removes tmp entries (`<pid>-…`) left by processes no longer alive (see removeDeadTmp); returns how many. */
  cleanTmp(): number {
    return removeDeadTmp(this.#tmpDir);
  }

  /** A fresh empty folder under `<dir>/tmp` for a step attempt's outputs (same filesystem, so putFile/putDir can move). */
  makeTempDir(prefix: string): string {
    const safe = prefix.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 48);
    return mkdtempSync(join(this.#tmpDir, `${process.pid}-${safe}-`));
  }

  #valid(digest: Digest): Digest {
    if (!isDigest(digest)) throw new SluiceError("SLUICE_INTERNAL", `"${String(digest)}" is not a sha256 digest. This is a bug in sluice; please report it.`, { digest });
    return digest;
  }

  #objectPath(digest: Digest): string {
    const hex = digestHex(this.#valid(digest));
    return join(this.#objectsDir, hex.slice(0, 2), hex.slice(2));
  }

  #tmpName(): string {
    return join(this.#tmpDir, `${process.pid}-${randomBytes(8).toString("hex")}`);
  }

  #writeObject(digest: Digest, bytes: Buffer): void {
    const tmp = this.#tmpName();
    try {
      writeNewFileSynced(tmp, bytes);
      this.#install(tmp, this.#objectPath(digest));
    } catch (err) {
      rmSync(tmp, { force: true });
      if (err instanceof SluiceError) throw err;
      throw storeFailed("write", tmp, err);
    }
  }

  /** Renames a complete, fsynced, read-only file into place and records its stamp as verified. */
  #install(from: string, final: string): void {
    try {
      mkdirSync(dirname(final), { recursive: true });
      renameSync(from, final);
      this.#record(digestFromPath(final), statSync(final, { bigint: true }));
    } catch (err) {
      throw storeFailed("install", final, err);
    }
  }

  #record(digest: Digest, st: BigIntStats): void {
    const row = this.#getVerified.get(digest);
    if (row && BigInt(row.size) === st.size && row.mtime_ns === st.mtimeNs.toString() && row.ino === st.ino.toString()) return;
    this.#putVerified.run(digest, Number(st.size), st.mtimeNs.toString(), st.ino.toString());
    if (this.#db.inTransaction) this.#uncommitted.add(digest);
  }

  /**
   * Whether `digest` was stored (or its file re-stamped) in this connection's open transaction,
   * so a step on another connection (a thread, a worker) cannot read it until that commits.
   * Cleared by `committed()`; a batch that was rolled back forgets it (`forget`).
   */
  isUncommitted(digest: Digest): boolean {
    return this.#uncommitted.size !== 0 && this.#uncommitted.has(digest);
  }

  /** A small object this process stored or was handed (see `keepVerified`) and still holds in memory; never reads the store. */
  recentBytes(digest: Digest): Buffer | undefined {
    return this.#recent.get(digest);
  }

  /**
   * Holds bytes another process sent along (a job's small inputs) so reads of `digest` need no
   * query; false, and nothing held, when they do not hash to it.
   */
  keepVerified(digest: Digest, bytes: Buffer): boolean {
    if (bytes.length > this.#inlineMax || sha256(bytes) !== digest) return false;
    this.#remember(digest, bytes);
    return true;
  }

  /** Call after each commit of the connection's write batch. */
  committed(): void {
    this.#uncommitted.clear();
  }

  #checkFile(digest: Digest): ObjectState {
    const path = this.#objectPath(digest);
    let st: BigIntStats;
    try {
      st = statSync(path, { bigint: true });
    } catch (err) {
      if (errCode(err) === "ENOENT") return "missing";
      throw storeFailed("read", path, err);
    }
    if (!st.isFile()) return "corrupt";
    const row = this.#getVerified.get(digest);
    if (row && BigInt(row.size) === st.size && row.mtime_ns === st.mtimeNs.toString() && row.ino === st.ino.toString()) return "ok";
    const actual = this.#hashOrUndefined(path);
    if (actual === undefined) return "missing";
    if (actual !== digest) return "corrupt";
    this.#record(digest, st);
    return "ok";
  }

  #hashOrUndefined(path: string): Digest | undefined {
    try {
      return hashFileSync(path).digest;
    } catch (err) {
      if (errCode(err) === "ENOENT") return undefined;
      throw storeFailed("read", path, err);
    }
  }

  /** Moves a bad object file to `quarantine/` (kept for inspection, out of every lookup); returns where. */
  #quarantine(digest: Digest): string {
    const path = this.#objectPath(digest);
    const to = join(this.#quarantineDir, `${digestHex(digest)}-${Date.now()}-${process.pid}`);
    this.#deleteVerified.run(digest);
    try {
      mkdirSync(this.#quarantineDir, { recursive: true });
      renameSync(path, to);
    } catch (err) {
      if (errCode(err) !== "ENOENT") throw storeFailed("quarantine", path, err);
    }
    return to;
  }
}
