import type { Database } from "better-sqlite3";
import { SluiceError } from "../errors.ts";
import { isDigest, type Digest } from "../util/canonical-json.ts";
import { normalizerId } from "./normalize-source.ts";

/** What identifies one version of a file on disk without reading it (git's racy-clean idea). */
export interface FileStamp {
  size: number;
  /** Modification time in nanoseconds (`fs.statSync(p, { bigint: true }).mtimeNs`). */
  mtimeNs: bigint;
  ino: number;
}

/** What the fingerprinter remembers about one file version. */
export interface MemoEntry {
  /** Digest of the file's normalised source. */
  digest: Digest;
  /** Raw runtime import specifiers, as written in the file. */
  imports: string[];
}

/**
 * Persistent memo so an unchanged file is never re-parsed; keyed by path and (size, mtimeNs, ino).
 * Two implementations: in-memory (one process) and SQLite (across processes and runs).
 */
export interface FingerprintMemo {
  /** The entry stored for exactly this path and stamp, if any. */
  get(path: string, stat: FileStamp): MemoEntry | undefined;
  /** Remember `entry` for this path and stamp, replacing whatever the path had. */
  set(path: string, stat: FileStamp, entry: MemoEntry): void;
}

/** A memo that lives as long as the process: the default of `CodeFingerprinter`. */
export function createMemoryFingerprintMemo(): FingerprintMemo {
  const byPath = new Map<string, { stamp: FileStamp; entry: MemoEntry }>();
  return {
    get(path, stat) {
      const hit = byPath.get(path);
      return hit !== undefined && sameStamp(hit.stamp, stat) ? hit.entry : undefined;
    },
    set(path, stat, entry) {
      byPath.set(path, { stamp: { ...stat }, entry: { digest: entry.digest, imports: [...entry.imports] } });
    },
  };
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino;
}

interface Row {
  digest: string;
  imports: string;
}

/**
 * A memo in table `code_files` of an open better-sqlite3 database (created if missing), so a
 * fresh process fingerprints unchanged code with stats and lookups only. Rows written by other
 * normalisation rules or TypeScript versions are ignored, and a row that does not decode is a miss.
 */
export function createSqliteFingerprintMemo(db: Database): FingerprintMemo {
  const normalizer = normalizerId();
  const where = `database "${db.name}" table code_files`;
  const statements = guard(where, "prepare", () => {
    db.exec(`CREATE TABLE IF NOT EXISTS code_files (
      path TEXT PRIMARY KEY,
      size INTEGER NOT NULL,
      mtime_ns TEXT NOT NULL,
      ino INTEGER NOT NULL,
      normalizer TEXT NOT NULL,
      digest TEXT NOT NULL,
      imports TEXT NOT NULL
    )`);
    return {
      select: db.prepare<[string, number, string, number, string], Row>(
        "SELECT digest, imports FROM code_files WHERE path = ? AND size = ? AND mtime_ns = ? AND ino = ? AND normalizer = ?",
      ),
      upsert: db.prepare<[string, number, string, number, string, string, string]>(
        `INSERT INTO code_files (path, size, mtime_ns, ino, normalizer, digest, imports) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, ino = excluded.ino,
           normalizer = excluded.normalizer, digest = excluded.digest, imports = excluded.imports`,
      ),
    };
  });
  return {
    get(path, stat) {
      // mtime_ns is TEXT: nanosecond timestamps exceed 2^53 and would lose digits as numbers.
      const row = guard(where, "read", () => statements.select.get(path, stat.size, String(stat.mtimeNs), stat.ino, normalizer));
      return row === undefined ? undefined : decode(row);
    },
    set(path, stat, entry) {
      guard(where, "write", () =>
        statements.upsert.run(path, stat.size, String(stat.mtimeNs), stat.ino, normalizer, entry.digest, JSON.stringify(entry.imports)),
      );
    },
  };
}

function decode(row: Row): MemoEntry | undefined {
  if (!isDigest(row.digest)) return undefined;
  let imports: unknown;
  try {
    imports = JSON.parse(row.imports);
  } catch {
    return undefined;
  }
  if (!Array.isArray(imports) || !imports.every((s): s is string => typeof s === "string")) return undefined;
  return { digest: row.digest, imports };
}

function guard<T>(where: string, action: string, fn: () => T): T {
  try {
    return fn();
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new SluiceError(
      "SLUICE_STORE_FAILED",
      `fingerprint memo (${where}): could not ${action}: ${reason}. Check that the database file is writable and not locked by another process, or delete it to start a fresh memo.`,
      { table: "code_files", action },
      { cause },
    );
  }
}
