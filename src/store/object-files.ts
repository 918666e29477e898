import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeSync } from "node:fs";
import { chmod, copyFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { SluiceError } from "../errors.ts";
import { isDigest, type Digest } from "../util/canonical-json.ts";
import { isProcessAlive } from "./claims.ts";

// File-level helpers of the local CAS: object paths, fsync, temp cleanup, listings, store errors.

/** The `code` of a Node system error (`ENOENT`, `EXDEV`…). */
export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** SLUICE_STORE_FAILED for a file operation of the cache. */
export function storeFailed(what: string, path: string, err: unknown): SluiceError {
  return new SluiceError("SLUICE_STORE_FAILED", `cache could not ${what} ${path}: ${(err as Error).message}. Check the cache folder's free space and permissions.`, { path }, { cause: err });
}

/** SLUICE_CACHE_CORRUPT for an object whose bytes do not hash to its digest. */
export function corruptObject(digest: Digest, path: string, movedTo: string, actual: Digest | undefined): SluiceError {
  return new SluiceError(
    "SLUICE_CACHE_CORRUPT",
    `cache object ${digest} at ${path} is corrupt (its bytes hash to ${actual ?? "another digest"}); it was ${movedTo === "deleted" ? "deleted" : `moved to ${movedTo}`}. It is treated as a miss and the step that produced it reruns; if this repeats, check the disk.`,
    { digest, path, movedTo, actual },
  );
}

/** Runs `fn` over items with at most `limit` at once. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** fsync a file by path. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes bytes to a new read-only file (`wx`: never an existing one) and fsyncs it. */
export function writeNewFileSynced(path: string, bytes: Buffer): void {
  const fd = openSync(path, "wx", 0o444);
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The digest an object file's path stands for (`objects/<2 hex>/<62 hex>`). */
export function digestFromPath(objectPath: string): Digest {
  const parts = objectPath.split(/[\\/]/);
  return `sha256:${parts.at(-2)}${parts.at(-1)}` as Digest;
}

/** Every object file under `objectsDir`, with size and last-modified time. */
export function listObjectFiles(objectsDir: string): Array<{ digest: Digest; size: number; mtimeMs: number }> {
  const out: Array<{ digest: Digest; size: number; mtimeMs: number }> = [];
  for (const prefix of readdirSync(objectsDir)) {
    if (!/^[0-9a-f]{2}$/.test(prefix)) continue;
    let names: string[];
    try {
      names = readdirSync(join(objectsDir, prefix));
    } catch {
      continue;
    }
    for (const name of names) {
      const digest = `sha256:${prefix}${name}`;
      if (!isDigest(digest)) continue;
      try {
        const st = statSync(join(objectsDir, prefix, name));
        out.push({ digest, size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        /* removed meanwhile */
      }
    }
  }
  return out;
}

/**
 * Removes entries of `tmpDir` named `<pid>-…` whose process is no longer alive; returns how many.
 * Liveness is judged on this machine, so one cache folder must not be shared between machines.
 */
export function removeDeadTmp(tmpDir: string): number {
  let removed = 0;
  for (const name of readdirSync(tmpDir)) {
    const m = /^(\d+)-/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isProcessAlive(pid)) continue;
    try {
      rmSync(join(tmpDir, name), { recursive: true, force: true });
      removed++;
    } catch {
      /* unremovable (permissions): left for a person to look at; it is never read */
    }
  }
  return removed;
}

/**
 * Puts an object file at `target` (its folder created): a hard link where the filesystem allows,
 * else a copy; read-only either way. Executables always get their own copy, because a hard link
 * shares the object's mode (0o444).
 */
export async function placeObjectFile(src: string, target: string, executable: boolean): Promise<void> {
  try {
    mkdirSync(dirname(target), { recursive: true });
    if (!executable) {
      try {
        linkSync(src, target);
        return;
      } catch (err) {
        if (!["EXDEV", "EPERM", "EMLINK", "ENOTSUP", "EOPNOTSUPP"].includes(errCode(err) ?? "")) throw err;
      }
    }
    await copyFile(src, target);
    await chmod(target, executable ? 0o555 : 0o444);
  } catch (err) {
    throw storeFailed("write", target, err);
  }
}
