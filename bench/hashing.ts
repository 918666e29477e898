import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openCacheDb } from "../src/store/cache-db.ts";
import { StatCache } from "../src/store/stat-cache.ts";
import { hashFile } from "../src/util/hash-file.ts";
import type { Row } from "./lib/report.ts";
import { fmt, mapLimit, median, timeMs } from "./lib/stats.ts";

/** Options of the hashing benches. */
export interface HashBenchOptions {
  /** Size of the big file, MiB. */
  readonly bigMiB: number;
  readonly bigReps: number;
  /** Count and size of the small input files. */
  readonly files: number;
  readonly fileKiB: number;
  readonly fileReps: number;
  /**
   * Given: the files are left in place and their folder handed over, for the caller to remove
   * after the other sections. Deleting them (1.6 GiB) at once made file creation in the temp
   * folder 10–40× slower for a minute or two on ext4 mounted with `discard` (0.3–1 ms a mkdir),
   * which the next section's command steps paid and their bare floor (one file a spawn) hardly did.
   */
  readonly removeLater?: (dir: string) => void;
}

/** The bare loop of the issue: `fs.createReadStream` piped into one sha256. */
function streamHash(file: string, highWaterMark?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    fs.createReadStream(file, highWaterMark ? { highWaterMark } : {})
      .on("data", (chunk) => h.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(`sha256:${h.digest("hex")}`));
  });
}

function writeBigFile(file: string, mib: number): void {
  const chunk = randomBytes(1024 * 1024);
  const fd = fs.openSync(file, "w");
  try {
    for (let i = 0; i < mib; i++) {
      chunk.writeUInt32LE(i, 0); // no two MiB alike
      fs.writeSync(fd, chunk);
    }
  } finally {
    fs.closeSync(fd);
  }
}

async function bigFileRows(dir: string, o: HashBenchOptions, log: (s: string) => void): Promise<Row[]> {
  const section = "c. hashing";
  const file = path.join(dir, "big.bin");
  writeBigFile(file, o.bigMiB);
  const gib = o.bigMiB / 1024;
  const variants = {
    hashFile: () => hashFile(file).then((r) => r.digest),
    "createReadStream (default 64 KiB chunks)": () => streamHash(file),
    "createReadStream (1 MiB chunks)": () => streamHash(file, 1024 * 1024),
  } as const;
  const times: Record<keyof typeof variants, number[]> = { hashFile: [], "createReadStream (default 64 KiB chunks)": [], "createReadStream (1 MiB chunks)": [] };
  const digests = new Set<string>();
  // One untimed pass puts the file in the page cache for every variant alike.
  await streamHash(file, 1024 * 1024);
  const order = Object.entries(variants) as Array<[keyof typeof variants, () => Promise<string>]>;
  for (let rep = 0; rep < o.bigReps; rep++) {
    // Each repetition starts with another variant, so a burst of load elsewhere hits them alike.
    for (const [name, fn] of [...order.slice(rep % order.length), ...order.slice(0, rep % order.length)]) {
      let d = "";
      times[name].push(await timeMs(async () => (d = await fn())));
      digests.add(d);
    }
  }
  if (!o.removeLater) fs.rmSync(file, { force: true });
  if (digests.size !== 1) throw new Error(`hash bench: the variants disagree on the digest: ${[...digests].join(", ")}`);
  for (const [name, t] of Object.entries(times)) log(`  ${name}: ${t.map((x) => fmt(x, 0)).join(", ")} ms`);
  const gibs = (name: keyof typeof variants): number => gib / (median(times[name]) / 1000);
  const mine = gibs("hashFile");
  const def = gibs("createReadStream (default 64 KiB chunks)");
  const big = gibs("createReadStream (1 MiB chunks)");
  const floor = Math.max(def, big);
  const size = o.bigMiB >= 1024 ? `${fmt(gib, 0)} GiB` : `${o.bigMiB} MiB`;
  return [
    {
      section,
      name: `hashFile, ${size} file (page cache)`,
      measured: `${fmt(mine, 2)} GiB/s`,
      floor: `best bare stream ${fmt(floor, 2)} GiB/s`,
      ratio: `${fmt((100 * mine) / floor, 0)}% of floor`,
      target: "≥ 90% of floor",
      met: mine >= 0.9 * floor,
    },
    { section, name: "bare createReadStream → sha256, 64 KiB chunks (default)", measured: `${fmt(def, 2)} GiB/s`, floor: "", ratio: `hashFile = ${fmt((100 * mine) / def, 0)}% of it`, target: "", met: null },
    { section, name: "bare createReadStream → sha256, 1 MiB chunks", measured: `${fmt(big, 2)} GiB/s`, floor: "", ratio: `hashFile = ${fmt((100 * mine) / big, 0)}% of it`, target: "", met: null },
  ];
}

async function statCacheRows(dir: string, o: HashBenchOptions, log: (s: string) => void): Promise<Row[]> {
  const section = "c. hashing";
  const filesDir = path.join(dir, "inputs");
  const cacheDir = path.join(dir, "cache");
  const files: string[] = [];
  const body = randomBytes(o.fileKiB * 1024);
  // Stamped an hour ago: the stat cache does not remember files modified within its racy window.
  const past = new Date(Date.now() - 3_600_000);
  for (let i = 0; i < o.files; i++) {
    const sub = path.join(filesDir, String(i % 100).padStart(2, "0"));
    if (i < 100) fs.mkdirSync(sub, { recursive: true });
    const f = path.join(sub, `f${i}.bin`);
    body.writeUInt32LE(i, 0);
    fs.writeFileSync(f, body);
    fs.utimesSync(f, past, past);
    files.push(f);
  }
  const CONCURRENCY = 4; // the same for every variant
  const db = openCacheDb(cacheDir);
  const first = new StatCache(db);
  const coldMs = await timeMs(() => mapLimit(files, CONCURRENCY, (f) => first.digestFile(f)));
  first.flush();
  const rehash: number[] = [];
  const fresh: number[] = [];
  const same: number[] = [];
  const dbs: Array<ReturnType<typeof openCacheDb>> = [];
  for (let rep = 0; rep < o.fileReps; rep++) {
    rehash.push(await timeMs(() => mapLimit(files, CONCURRENCY, (f) => hashFile(f))));
    // A fresh StatCache on its own connection, as a second process would have: loads the table, then stats each file.
    const conn = openCacheDb(cacheDir);
    dbs.push(conn);
    fresh.push(
      await timeMs(async () => {
        const sc = new StatCache(conn);
        await mapLimit(files, CONCURRENCY, (f) => sc.digestFile(f));
      }),
    );
    same.push(await timeMs(() => mapLimit(files, CONCURRENCY, (f) => first.digestFile(f))));
  }
  for (const c of dbs) c.close();
  db.close();
  log(`  cold (hash + remember): ${fmt(coldMs, 0)} ms; re-hash: ${rehash.map((x) => fmt(x, 0)).join(", ")} ms`);
  log(`  stat cache, fresh instance: ${fresh.map((x) => fmt(x, 1)).join(", ")} ms; same instance: ${same.map((x) => fmt(x, 1)).join(", ")} ms`);
  const r = median(rehash);
  const f = median(fresh);
  const s = median(same);
  const us = (ms: number): string => `${fmt((ms * 1000) / o.files, 1)} µs/file`;
  const what = `${o.files.toLocaleString("en-US")} unchanged files × ${o.fileKiB} KiB`;
  const floor = `re-hash with hashFile ${fmt(r, 0)} ms (${us(r)})`;
  return [
    { section, name: `stat cache, fresh instance (2nd process), ${what}`, measured: `${fmt(f, 1)} ms (${us(f)})`, floor, ratio: `${fmt(r / f, 1)}× faster`, target: "≥ 20× faster", met: r / f >= 20 },
    { section, name: `stat cache, same instance, ${what}`, measured: `${fmt(s, 1)} ms (${us(s)})`, floor, ratio: `${fmt(r / s, 1)}× faster`, target: "≥ 20× faster", met: r / s >= 20 },
    { section, name: `stat cache, cold (hash and remember), ${what}`, measured: `${fmt(coldMs, 0)} ms (${us(coldMs)})`, floor, ratio: `${fmt(coldMs / r, 2)}× the re-hash time`, target: "", met: null },
  ];
}

/** (c) Big-file hashing throughput and stat-cache re-validation, each beside its bare floor. */
export async function hashBench(o: HashBenchOptions, log: (s: string) => void): Promise<Row[]> {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "sluice-bench-hash-")));
  try {
    return [...(await bigFileRows(dir, o, log)), ...(await statCacheRows(dir, o, log))];
  } finally {
    if (o.removeLater) o.removeLater(dir);
    else fs.rmSync(dir, { recursive: true, force: true });
  }
}
