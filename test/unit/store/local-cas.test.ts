import Database from "better-sqlite3";
import { randomBytes } from "node:crypto";
import {
  chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dirDigest } from "../../../src/store/dir-manifest.ts";
import { LocalCas } from "../../../src/store/local-cas.ts";
import { canonicalJson, digestHex, digestJson, sha256, type Digest } from "../../../src/util/canonical-json.ts";
import { thrown } from "../../helpers/errors.ts";

const INLINE_MAX = 64;

let root: string;
let cacheDir: string;
let db: Database.Database;
let cas: LocalCas;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "sluice-cas-"));
  cacheDir = join(root, "cache");
  mkdirSync(cacheDir);
  db = new Database(join(cacheDir, "cache.db"));
  db.pragma("journal_mode = WAL");
  db.pragma("busy_timeout = 5000");
  cas = new LocalCas({ dir: cacheDir, db, inlineMaxBytes: INLINE_MAX });
});

afterEach(() => {
  db.close();
  // Stored objects are read-only; removing them needs only the folder to be writable.
  rmSync(root, { recursive: true, force: true });
});

function objectPath(d: Digest): string {
  const hex = digestHex(d);
  return join(cacheDir, "objects", hex.slice(0, 2), hex.slice(2));
}

function write(rel: string, bytes: string | Uint8Array, mode?: number): string {
  const path = join(root, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  if (mode !== undefined) chmodSync(path, mode);
  return path;
}

/** Overwrites an object file in place with other bytes of the same size, as bit rot or a careless edit would. */
function corrupt(path: string, keepStamp: boolean): void {
  const before = statSync(path);
  const bytes = readFileSync(path);
  bytes[0] = bytes[0]! ^ 0xff;
  chmodSync(path, 0o644);
  writeFileSync(path, bytes);
  chmodSync(path, 0o444);
  // Either restore the old mtime (undetectable by stat) or move it clearly away from it.
  const when = keepStamp ? before.mtime : new Date(before.mtimeMs - 60_000);
  utimesSync(path, when, when);
}

const big = (n = 1000): Buffer => randomBytes(n);

describe("LocalCas bytes", () => {
  it("round-trips a small object through the inline table", () => {
    const bytes = Buffer.from("hello");
    const d = cas.putBytes(bytes);
    expect(d).toBe(sha256(bytes));
    expect(cas.getBytes(d)).toEqual(bytes);
    expect(existsSync(objectPath(d))).toBe(false);
    expect(cas.stats()).toEqual({ objects: 1, bytes: 5, inlineObjects: 1, inlineBytes: 5 });
    expect(cas.check(d)).toBe("ok");
  });

  it("round-trips a large object through a read-only file under objects/", () => {
    const bytes = big();
    const d = cas.putBytes(bytes);
    expect(cas.getBytes(d)).toEqual(bytes);
    const st = statSync(objectPath(d));
    expect(st.mode & 0o777).toBe(0o444);
    expect(cas.stats()).toEqual({ objects: 1, bytes: 1000, inlineObjects: 0, inlineBytes: 0 });
  });

  it("stores the same bytes once however often they are put", () => {
    const small = Buffer.from("same");
    const large = big();
    const d1 = cas.putBytes(large);
    const ino = statSync(objectPath(d1)).ino;
    expect(cas.putBytes(large)).toBe(d1);
    expect(cas.putBytes(small)).toBe(cas.putBytes(small));
    expect(statSync(objectPath(d1)).ino).toBe(ino);
    expect(cas.listObjects().map((o) => o.digest).sort()).toEqual([d1, sha256(small)].sort());
    expect(readdirSync(join(cacheDir, "tmp"))).toEqual([]);
  });

  it("shares objects between two stores on the same cache folder, as two processes would", () => {
    const other = new LocalCas({ dir: cacheDir, db, inlineMaxBytes: INLINE_MAX });
    const bytes = big();
    const d = cas.putBytes(bytes);
    expect(other.putBytes(bytes)).toBe(d);
    expect(other.getBytes(d)).toEqual(bytes);
    expect(cas.stats().objects).toBe(1);
  });

  it("reports a missing object as missing, with no bytes and no path", () => {
    const d = sha256("never stored");
    expect(cas.check(d)).toBe("missing");
    expect(cas.getBytes(d)).toBeUndefined();
    expect(cas.filePath(d)).toBeUndefined();
  });

  it("detects an object file overwritten on disk: check says corrupt, getBytes quarantines it and throws SLUICE_CACHE_CORRUPT", () => {
    const d = cas.putBytes(big());
    const path = objectPath(d);
    expect(cas.check(d)).toBe("ok");
    corrupt(path, false);
    expect(cas.check(d)).toBe("corrupt");
    const err = thrown(() => cas.getBytes(d));
    expect(err.code).toBe("SLUICE_CACHE_CORRUPT");
    expect(err.message).toContain(d);
    expect(err.message).toContain(path);
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(join(cacheDir, "quarantine"))).toHaveLength(1);
    expect(cas.check(d)).toBe("missing");
    expect(cas.getBytes(d)).toBeUndefined();
  });

  it("verifies every read even when the corruption kept the file's stamp", () => {
    const bytes = big();
    const d = cas.putBytes(bytes);
    corrupt(objectPath(d), true);
    expect(thrown(() => cas.getBytes(d)).code).toBe("SLUICE_CACHE_CORRUPT");
    // The bad object is out of the way: storing the content again repairs the cache.
    cas.putBytes(bytes);
    expect(cas.getBytes(d)).toEqual(bytes);
  });

  it("filePath throws SLUICE_CACHE_CORRUPT and quarantines a corrupt object", () => {
    const d = cas.putBytes(big());
    corrupt(objectPath(d), false);
    expect(thrown(() => cas.filePath(d)).code).toBe("SLUICE_CACHE_CORRUPT");
    expect(existsSync(objectPath(d))).toBe(false);
  });

  it("filePath writes an inline object out to a read-only file", () => {
    const d = cas.putBytes(Buffer.from("tiny"));
    const path = cas.filePath(d)!;
    expect(path).toBe(objectPath(d));
    expect(readFileSync(path, "utf8")).toBe("tiny");
    expect(statSync(path).mode & 0o777).toBe(0o444);
  });
});

describe("LocalCas objects not yet committed", () => {
  it("knows what the open transaction stored, until it commits or is forgotten", async () => {
    const outside = cas.putBytes(Buffer.from("stored outside a transaction"));
    expect(cas.isUncommitted(outside)).toBe(false);
    db.exec("BEGIN IMMEDIATE");
    const small = cas.putBytes(Buffer.from("small, in the table"));
    const file = (await cas.putFile(write("big.bin", big(INLINE_MAX * 4)))).digest;
    expect(cas.isUncommitted(small)).toBe(true);
    expect(cas.isUncommitted(file)).toBe(true); // its stamp row is in the transaction
    // Another connection cannot read it yet: why a step on another thread must wait for the commit.
    const other = new Database(join(cacheDir, "cache.db"));
    try {
      expect(new LocalCas({ dir: cacheDir, db: other, inlineMaxBytes: INLINE_MAX }).getBytes(small)).toBeUndefined();
      db.exec("COMMIT");
      cas.committed();
      expect(cas.isUncommitted(small)).toBe(false);
      expect(cas.isUncommitted(file)).toBe(false);
      expect(new LocalCas({ dir: cacheDir, db: other, inlineMaxBytes: INLINE_MAX }).getBytes(small)?.toString()).toBe("small, in the table");
    } finally {
      other.close();
    }
    db.exec("BEGIN IMMEDIATE");
    const lost = cas.putBytes(Buffer.from("rolled back"));
    db.exec("ROLLBACK");
    cas.forget();
    expect(cas.isUncommitted(lost)).toBe(false);
  });

  it("holds bytes handed over only when they hash to the digest", () => {
    const bytes = Buffer.from("an input a job carried");
    const digest = sha256(bytes);
    expect(cas.keepVerified(digest, Buffer.from("other bytes"))).toBe(false);
    expect(cas.recentBytes(digest)).toBeUndefined();
    expect(cas.keepVerified(digest, bytes)).toBe(true);
    expect(cas.recentBytes(digest)?.toString()).toBe("an input a job carried");
    // Read without the store: the table never had it.
    expect(cas.getBytes(digest)?.toString()).toBe("an input a job carried");
    expect(cas.localCheck(digest)).toBe("missing");
  });
});

describe("LocalCas files and folders", () => {
  it("putFile with move renames a file from the store's temp folder instead of copying it", async () => {
    const tmp = cas.makeTempDir("train");
    const bytes = big(5000);
    const src = join(tmp, "model.bin");
    writeFileSync(src, bytes);
    const ino = statSync(src).ino;
    const { digest, size } = await cas.putFile(src, { move: true });
    expect({ digest, size }).toEqual({ digest: sha256(bytes), size: 5000 });
    expect(existsSync(src)).toBe(false);
    expect(statSync(objectPath(digest)).ino).toBe(ino);
    expect(statSync(objectPath(digest)).mode & 0o777).toBe(0o444);
    expect(cas.check(digest)).toBe("ok");
  });

  it("putFile without move copies and leaves the source alone", async () => {
    const bytes = big(5000);
    const src = write("out/model.bin", bytes);
    const { digest } = await cas.putFile(src);
    expect(readFileSync(src)).toEqual(bytes);
    expect(statSync(objectPath(digest)).ino).not.toBe(statSync(src).ino);
    expect(cas.getBytes(digest)).toEqual(bytes);
  });

  it("putFile with move consumes a small file into the inline table", async () => {
    const src = write("out/metrics.json", '{"acc":0.97}');
    const { digest } = await cas.putFile(src, { move: true });
    expect(existsSync(src)).toBe(false);
    expect(cas.getBytes(digest)?.toString()).toBe('{"acc":0.97}');
  });

  it("putFile of a missing file throws SLUICE_INPUT_MISSING naming it", async () => {
    const path = join(root, "out", "nope.bin");
    await expect(cas.putFile(path)).rejects.toMatchObject({ code: "SLUICE_INPUT_MISSING", details: { path } });
  });

  it("round-trips a folder through putDir and materializeDir, read-only, executable bits kept", async () => {
    const large = big(3000);
    write("model/weights.bin", large);
    write("model/config/params.json", '{"depth":3}');
    write("model/bin/run.sh", "#!/bin/sh\necho hi\n", 0o755);
    write("model/empty.txt", "");
    mkdirSync(join(root, "model", "unused", "deeper"), { recursive: true });
    const { digest, manifest } = await cas.putDir(join(root, "model"));
    expect(digest).toBe(dirDigest(manifest));
    expect(manifest.entries.map((e) => [e.path, e.size, e.executable])).toEqual([
      ["bin/run.sh", 18, true],
      ["config/params.json", 11, false],
      ["empty.txt", 0, false],
      ["weights.bin", 3000, false],
    ]);
    expect(cas.readDirManifest(digest)).toEqual(manifest);

    const dest = join(root, "restored");
    await cas.materializeDir(digest, dest);
    expect(readFileSync(join(dest, "weights.bin"))).toEqual(large);
    expect(readFileSync(join(dest, "config", "params.json"), "utf8")).toBe('{"depth":3}');
    expect(readFileSync(join(dest, "empty.txt"), "utf8")).toBe("");
    expect(existsSync(join(dest, "unused"))).toBe(false);
    for (const rel of ["weights.bin", "config/params.json", "empty.txt"]) expect(statSync(join(dest, rel)).mode & 0o777).toBe(0o444);
    expect(statSync(join(dest, "bin", "run.sh")).mode & 0o777).toBe(0o555);
    // Non-executable files are hard links to the stored objects.
    expect(statSync(join(dest, "weights.bin")).ino).toBe(statSync(objectPath(manifest.entries[3]!.digest)).ino);
  });

  it("gives a folder the same digest whatever order its files were created in", async () => {
    write("one/b/x.txt", "x");
    write("one/a.txt", "a");
    write("two/a.txt", "a");
    write("two/b/x.txt", "x");
    const one = await cas.putDir(join(root, "one"));
    const two = await cas.putDir(join(root, "two"));
    expect(one.digest).toBe(two.digest);
  });

  it("stores a folder's manifest as its canonical JSON bytes, whatever characters its paths hold", async () => {
    const names = ['quote".txt', "back\\slash.txt", "tab\there.txt", "ünïcödé.txt", "emoji-🙂.txt", "nl\nname.txt", "z", "A", "10", "9"];
    for (const n of names) write(join("odd", "sub dir", n), n);
    const { digest, manifest } = await cas.putDir(join(root, "odd"));
    expect(manifest.entries).toHaveLength(names.length);
    expect(cas.getBytes(digest)!.toString("utf8")).toBe(canonicalJson(manifest));
    expect(digest).toBe(digestJson(manifest));
  });

  it("putDir with move moves the files out of a temp folder", async () => {
    const tmp = cas.makeTempDir("step");
    writeFileSync(join(tmp, "a.bin"), big(500));
    const { manifest } = await cas.putDir(tmp, { move: true });
    expect(manifest.entries).toHaveLength(1);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it("putDir rejects a symlink with SLUICE_INPUT_UNSUPPORTED naming it", async () => {
    write("d/real.txt", "r");
    symlinkSync(join(root, "d", "real.txt"), join(root, "d", "link.txt"));
    await expect(cas.putDir(join(root, "d"))).rejects.toMatchObject({
      code: "SLUICE_INPUT_UNSUPPORTED",
      message: expect.stringContaining(join(root, "d", "link.txt")),
    });
  });

  it("materializeDir of a folder with a corrupt member throws SLUICE_CACHE_CORRUPT", async () => {
    write("d/w.bin", big(2000));
    const { digest, manifest } = await cas.putDir(join(root, "d"));
    corrupt(objectPath(manifest.entries[0]!.digest), false);
    await expect(cas.materializeDir(digest, join(root, "out"))).rejects.toMatchObject({ code: "SLUICE_CACHE_CORRUPT" });
  });

  it("readDirManifest refuses an object that is not a folder manifest", () => {
    const d = cas.putBytes(Buffer.from("not json"));
    expect(thrown(() => cas.readDirManifest(d)).code).toBe("SLUICE_STORE_FAILED");
    expect(cas.readDirManifest(sha256("absent"))).toBeUndefined();
  });
});

describe("LocalCas maintenance", () => {
  it("verifyAll re-hashes every object and quarantines the corrupt one", async () => {
    const good = cas.putBytes(big());
    const bad = cas.putBytes(big());
    const inline = cas.putBytes(Buffer.from("small"));
    corrupt(objectPath(bad), true);
    const progress: Array<[number, number]> = [];
    const res = await cas.verifyAll((done, total) => progress.push([done, total]));
    expect(res).toEqual({ checked: 3, corrupt: [bad] });
    expect(progress.at(-1)).toEqual([3, 3]);
    expect(cas.check(bad)).toBe("missing");
    expect(cas.check(good)).toBe("ok");
    expect(cas.check(inline)).toBe("ok");
  });

  it("listObjects reports size, time and where each object lives", () => {
    const file = cas.putBytes(big(700));
    const inline = cas.putBytes(Buffer.from("small"));
    const list = cas.listObjects().sort((a, b) => a.size - b.size);
    expect(list.map(({ digest, size, inline: i }) => ({ digest, size, inline: i }))).toEqual([
      { digest: inline, size: 5, inline: true },
      { digest: file, size: 700, inline: false },
    ]);
    for (const o of list) expect(o.mtimeMs).toBeGreaterThan(0);
  });

  it("remove deletes objects, ignores unknown digests, and counts what it removed", () => {
    const file = cas.putBytes(big());
    const inline = cas.putBytes(Buffer.from("small"));
    expect(cas.remove([file, inline, sha256("unknown")])).toBe(2);
    expect(cas.check(file)).toBe("missing");
    expect(cas.check(inline)).toBe("missing");
    expect(cas.stats()).toEqual({ objects: 0, bytes: 0, inlineObjects: 0, inlineBytes: 0 });
  });

  it("cleanTmp removes temp entries of dead processes and keeps this process's", () => {
    const deadPid = 2 ** 22 + 1; // above Linux's largest pid_max, so never alive
    const tmpDir = join(cacheDir, "tmp");
    writeFileSync(join(tmpDir, `${deadPid}-abc123`), "partial");
    mkdirSync(join(tmpDir, `${deadPid}-step-xyz`));
    writeFileSync(join(tmpDir, `${deadPid}-step-xyz`, "out.bin"), "partial");
    writeFileSync(join(tmpDir, `${process.pid}-def456`), "in progress");
    const mine = cas.makeTempDir("train/attempt 1");
    expect(cas.cleanTmp()).toBe(2);
    expect(readdirSync(tmpDir).sort()).toEqual([`${process.pid}-def456`, mine.split("/").at(-1)!].sort());
  });

  it("makeTempDir makes a fresh empty folder under tmp/ named after this process", () => {
    const a = cas.makeTempDir("train");
    const b = cas.makeTempDir("train");
    expect(a).not.toBe(b);
    expect(dirname(a)).toBe(join(cacheDir, "tmp"));
    expect(a.split("/").at(-1)!.startsWith(`${process.pid}-train-`)).toBe(true);
    expect(readdirSync(a)).toEqual([]);
  });
});
