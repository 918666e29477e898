import Database from "better-sqlite3";
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SluiceError } from "../../../src/errors.ts";
import { dirDigest } from "../../../src/store/dir-manifest.ts";
import { StatCache, type StatCacheOptions } from "../../../src/store/stat-cache.ts";
import { sha256 } from "../../../src/util/canonical-json.ts";
import { hashFile, type FileDigest } from "../../../src/util/hash-file.ts";

// Files are dated long before the injected clock, so the racy-file guard never applies unless a test wants it.
const OLD = new Date("2024-01-02T03:04:05Z");
const NOW_MS = Date.parse("2024-06-01T00:00:00Z");

let root: string;
let db: Database.Database;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "sluice-stat-cache-"));
  db = new Database(join(root, "cache.db"));
  db.pragma("journal_mode = WAL");
});

afterEach(() => {
  db.close();
  rmSync(root, { recursive: true, force: true });
});

/** Writes a file dated `when` (default: long ago). */
function write(rel: string, text: string, when: Date = OLD): string {
  const path = join(root, "ws", rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  utimesSync(path, when, when);
  return path;
}

/** A stat cache whose hasher counts the files it reads. */
function counted(opts: StatCacheOptions = {}): { cache: StatCache; reads: string[] } {
  const reads: string[] = [];
  const hasher = (p: string): Promise<FileDigest> => {
    reads.push(p);
    return hashFile(p);
  };
  return { cache: new StatCache(db, { nowMs: () => NOW_MS, hasher, ...opts }), reads };
}

function caught(fn: () => unknown): Promise<SluiceError> {
  return Promise.resolve()
    .then(fn)
    .then(
      () => expect.fail("expected a SluiceError"),
      (err: unknown) => {
        expect(err).toBeInstanceOf(SluiceError);
        return err as SluiceError;
      },
    );
}

describe("StatCache.digestFile", () => {
  it("returns the same digest for an unchanged file without reading it again", async () => {
    const path = write("data/iris.csv", "a,b\n1,2\n");
    const { cache, reads } = counted();
    const first = await cache.digestFile(path);
    const second = await cache.digestFile(path);
    expect(first).toEqual({ digest: sha256("a,b\n1,2\n"), size: 8 });
    expect(second).toEqual(first);
    expect(reads).toEqual([path]);
  });

  it("remembers digests across instances once flushed, loading them from the database", async () => {
    const path = write("data/iris.csv", "a,b\n1,2\n");
    const a = counted();
    const first = await a.cache.digestFile(path);
    a.cache.flush();
    const b = counted();
    expect(await b.cache.digestFile(path)).toEqual(first);
    expect(b.reads).toEqual([]);
  });

  it("re-hashes a file whose content changed at the same size once its mtime differs", async () => {
    const path = write("data/x.txt", "aaaa");
    const { cache, reads } = counted();
    const before = await cache.digestFile(path);
    write("data/x.txt", "bbbb", new Date(OLD.getTime() + 1000));
    const after = await cache.digestFile(path);
    expect(after).toEqual({ digest: sha256("bbbb"), size: 4 });
    expect(after.digest).not.toBe(before.digest);
    expect(reads).toHaveLength(2);
  });

  it("re-hashes a file replaced by another with the same size and mtime (new inode)", async () => {
    const path = write("data/x.txt", "aaaa");
    const { cache, reads } = counted();
    await cache.digestFile(path);
    // The replacement has the same size and mtime; only its inode tells it apart.
    const other = write("data/y.txt", "cccc");
    renameSync(other, path);
    expect(await cache.digestFile(path)).toEqual({ digest: sha256("cccc"), size: 4 });
    expect(reads).toHaveLength(2);
  });

  it("hashes a racy file (modified within 2 s of now) every time instead of remembering it", async () => {
    const justNow = new Date(NOW_MS - 500);
    const path = write("data/fresh.txt", "new", justNow);
    const { cache, reads } = counted();
    await cache.digestFile(path);
    await cache.digestFile(path);
    expect(reads).toHaveLength(2);
    cache.flush();
    expect(db.prepare("SELECT count(*) AS n FROM stat_cache").get()).toEqual({ n: 0 });
  });

  it("treats a file dated in the future as racy", async () => {
    const path = write("data/future.txt", "x", new Date(NOW_MS + 60_000));
    const { cache, reads } = counted();
    await cache.digestFile(path);
    await cache.digestFile(path);
    expect(reads).toHaveLength(2);
  });

  it("throws SLUICE_INPUT_MISSING naming the path of a missing file", async () => {
    const { cache } = counted();
    const path = join(root, "ws", "data", "missing.csv");
    const err = await caught(() => cache.digestFile(path));
    expect(err.code).toBe("SLUICE_INPUT_MISSING");
    expect(err.message).toContain(path);
    expect(err.details).toEqual({ path });
  });

  it("throws SLUICE_INPUT_UNSUPPORTED for a folder given as a file", async () => {
    write("data/a.txt", "a");
    const { cache } = counted();
    const err = await caught(() => cache.digestFile(join(root, "ws", "data")));
    expect(err.code).toBe("SLUICE_INPUT_UNSUPPORTED");
    expect(err.message).toContain(join(root, "ws", "data"));
  });

  it("persists entries automatically without an explicit flush", async () => {
    const path = write("a.txt", "a");
    const { cache } = counted();
    await cache.digestFile(path);
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(db.prepare("SELECT path, digest FROM stat_cache").all()).toEqual([{ path, digest: sha256("a") }]);
  });
});

describe("StatCache.digestDir", () => {
  it("digests a nested folder into a sorted manifest of POSIX paths, sizes and executable bits", async () => {
    write("model/weights.bin", "0123456789");
    write("model/config/params.json", '{"depth":3}');
    const run = write("model/bin/run.sh", "#!/bin/sh\necho hi\n");
    chmodSync(run, 0o755);
    mkdirSync(join(root, "ws", "model", "empty", "deeper"), { recursive: true });
    const { cache } = counted();
    const { digest, manifest } = await cache.digestDir(join(root, "ws", "model"));
    expect(manifest).toEqual({
      kind: "dir",
      entries: [
        { path: "bin/run.sh", digest: sha256("#!/bin/sh\necho hi\n"), size: 18, executable: true },
        { path: "config/params.json", digest: sha256('{"depth":3}'), size: 11, executable: false },
        { path: "weights.bin", digest: sha256("0123456789"), size: 10, executable: false },
      ],
    });
    expect(digest).toBe(dirDigest(manifest));
  });

  it("re-validates an unchanged folder without reading any file, and reads only the changed one", async () => {
    for (let i = 0; i < 30; i++) write(`d/sub${i % 3}/f${i}.txt`, `file ${i}`);
    const { cache, reads } = counted();
    const first = await cache.digestDir(join(root, "ws", "d"));
    expect(reads).toHaveLength(30);
    const again = await counted().cache.digestDir(join(root, "ws", "d"));
    expect(again.digest).toBe(first.digest);
    reads.length = 0;
    const changed = write("d/sub1/f4.txt", "file X", new Date(OLD.getTime() + 5000));
    const third = await cache.digestDir(join(root, "ws", "d"));
    expect(reads).toEqual([changed]);
    expect(third.digest).not.toBe(first.digest);
  });

  it("gives the same digest for the same files whatever order they were created in", async () => {
    write("one/b/x.txt", "x");
    write("one/a.txt", "a");
    write("two/a.txt", "a");
    write("two/b/x.txt", "x");
    const { cache } = counted();
    const one = await cache.digestDir(join(root, "ws", "one"));
    const two = await cache.digestDir(join(root, "ws", "two"));
    expect(one.digest).toBe(two.digest);
  });

  it("rejects a symlink inside the folder with SLUICE_INPUT_UNSUPPORTED naming it", async () => {
    const target = write("d/real.txt", "r");
    const link = join(root, "ws", "d", "link.txt");
    symlinkSync(target, link);
    const err = await caught(() => counted().cache.digestDir(join(root, "ws", "d")));
    expect(err.code).toBe("SLUICE_INPUT_UNSUPPORTED");
    expect(err.message).toContain(link);
  });

  it("throws SLUICE_INPUT_MISSING for a missing folder", async () => {
    const err = await caught(() => counted().cache.digestDir(join(root, "ws", "nope")));
    expect(err.code).toBe("SLUICE_INPUT_MISSING");
    expect(err.message).toContain(join(root, "ws", "nope"));
  });

  it("keeps the inode of each file in its stamp", async () => {
    const path = write("d/a.txt", "a");
    const { cache } = counted();
    await cache.digestDir(join(root, "ws", "d"));
    const row = db.prepare("SELECT ino, mtime_ns FROM stat_cache WHERE path = ?").get(path) as { ino: string; mtime_ns: string };
    const st = statSync(path, { bigint: true });
    expect(row).toEqual({ ino: st.ino.toString(), mtime_ns: st.mtimeNs.toString() });
  });
});
