import fs from "node:fs";
import path from "node:path";
import { loadConfig, Workspace } from "../src/index.ts";
import { startCacheServer } from "../test/helpers/cache-server.ts";
import type { BenchWorkspace } from "./lib/bench-workspace.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median, timeMs } from "./lib/stats.ts";

const BLOB_STEPS = `import fs from "node:fs";
import path from "node:path";
import { defineStep, port, Type } from "sluice";

export const blob = defineStep({
  name: "blob",
  outputs: { file: port.file() },
  params: Type.Object({ i: Type.Integer(), mib: Type.Integer() }),
  run({ params, outDir }) {
    const f = path.join(outDir, "blob.bin");
    fs.writeFileSync(f, Buffer.alloc(params.mib * 2 ** 20, params.i));
    return { file: { path: f } };
  },
});
`;

const blobsPipeline = (n: number, mib: number): string => `import { definePipeline } from "sluice";
import { blob } from "../steps/blob-bench.ts";
export default definePipeline({
  name: "blobs",
  build(p) {
    for (let i = 0; i < ${n}; i++) p.step(\`b\${i}\`, blob, { params: { i, mib: ${mib} } });
  },
});
`;

async function getAll(url: string, token: string, names: readonly string[]): Promise<void> {
  let next = 0;
  const one = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++]!;
      const res = await fetch(`${url}/v8/artifacts/${name}?slug=bench`, { headers: { authorization: `Bearer ${token}` } });
      if (res.status !== 200) throw new Error(`bench s: GET ${name}: HTTP ${res.status}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: 8 }, one));
}

/**
 * s. A fully cached run served by the shared cache server (a fresh, empty local cache each time:
 * every entry and object comes over loopback HTTP, is verified and stored locally) against the
 * same run answered by the local cache. Same process, same workspace, same real server. Fetches
 * are batched per graph layer, so a wide graph and a chain of the same size cost very differently.
 */
export async function remoteCacheBench(bw: BenchWorkspace, o: { steps: number; chain: number; blobs: number; blobMiB: number; reps: number }, log: (s: string) => void): Promise<Row[]> {
  fs.writeFileSync(path.join(bw.root, "steps/blob-bench.ts"), BLOB_STEPS);
  fs.writeFileSync(path.join(bw.root, "pipelines/blobs.ts"), blobsPipeline(o.blobs, o.blobMiB));
  const server = await startCacheServer({ env: { LOG_LEVEL: "warn", BODY_LIMIT: String(256 * 2 ** 20) } });
  const env = { SLUICE_REMOTE_CACHE_URL: server.url, SLUICE_REMOTE_CACHE_TOKEN: server.token, SLUICE_REMOTE_CACHE_TEAM: "bench", SLUICE_REMOTE_CACHE_SIGNING_KEY: "bench-signing-key-0123456789" };
  const open = async (label: string, team = "bench", cacheDir = bw.freshCacheDir(label)): Promise<Workspace> => Workspace.open(await loadConfig({ root: bw.root, env: { ...env, SLUICE_REMOTE_CACHE_TEAM: team }, flags: { cacheDir } }));
  const rows: Row[] = [];
  try {
    // What a server costs a run that finds nothing on it: lookups that miss, background uploads
    // of every entry and object, and the flush before the run ends. A fresh team each time.
    const withServer: number[] = [];
    const without: number[] = [];
    for (let rep = 0; rep <= o.reps; rep++) {
      const plain = await Workspace.open(await loadConfig({ root: bw.root, env: {}, flags: { cacheDir: bw.freshCacheDir("rc-cold-plain") } }));
      const shared = await open("rc-cold-shared", `cold-${rep}`);
      try {
        const [pi, si] = [await plain.load("wide"), await shared.load("wide")];
        const p = await timeMs(() => plain.run(pi, { params: { n: o.steps }, concurrency: 8 }));
        const w = await timeMs(() => shared.run(si, { params: { n: o.steps }, concurrency: 8 }));
        if (shared.remoteCache!.stats.entriesUploaded !== o.steps + 1) throw new Error(`bench s: cold run uploaded ${shared.remoteCache!.stats.entriesUploaded} entries`);
        if (rep > 0) {
          without.push(p);
          withServer.push(w);
        }
      } finally {
        await plain.close();
        await shared.close();
      }
    }
    log(`  cold run of ${o.steps.toLocaleString("en-US")} no-op steps: with the server ${withServer.map((x) => fmt(x, 0)).join(", ")} ms; without ${without.map((x) => fmt(x, 0)).join(", ")} ms`);
    rows.push({
      section: "s. shared cache", name: `cold run, ${o.steps.toLocaleString("en-US")} no-op steps under one root, with the cache server (misses, uploads, flush) vs without one`,
      measured: `${fmt(median(withServer), 0)} ms`, floor: `${fmt(median(without), 0)} ms without a server`, ratio: `${fmt(median(withServer) / median(without), 1)}×`, target: "", met: null,
    });
    const cases = [
      { name: "wide", label: `${o.steps.toLocaleString("en-US")} no-op steps under one root (json rows)`, params: { n: o.steps }, steps: o.steps + 1 },
      { name: "chain", label: `a chain of ${o.chain} no-op steps (one graph layer each)`, params: { n: o.chain }, steps: o.chain },
      { name: "blobs", label: `${o.blobs} steps × ${o.blobMiB} MiB file`, params: {}, steps: o.blobs },
    ];
    for (const c of cases) {
      const homeDir = bw.freshCacheDir(`rc-home-${c.name}`);
      const home = await open("", "bench", homeDir);
      const info = await home.load(c.name);
      // The same cache folder without a server: what the warm-up walk costs a run cached locally.
      const plain = c.name === "wide" ? await Workspace.open(await loadConfig({ root: bw.root, env: {}, flags: { cacheDir: homeDir } })) : undefined;
      const plainInfo = await plain?.load(c.name);
      const cold = await home.run(info, { params: c.params, concurrency: 8 });
      if (cold.status !== "succeeded" || home.remoteCache!.stats.unavailable) throw new Error(`bench s: cold run of ${c.name} ${cold.status}: ${home.remoteCache!.stats.unavailable ?? ""}`);
      const local: number[] = [];
      const remote: number[] = [];
      const raw: number[] = [];
      const noServer: number[] = [];
      // Every entry and object of this run, as stored on the server.
      const names = fs.readdirSync(path.join(server.storagePath, "bench"));
      for (let rep = 0; rep <= o.reps; rep++) {
        // The server's own floor, interleaved with the runs so load drift falls on both: the same
        // artifacts fetched with plain fetch(), 8 at a time like the client, bodies read and dropped.
        const g = c.name === "wide" ? await timeMs(() => getAll(server.url, server.token, names)) : 0;
        const l = await timeMs(() => home.run(info, { params: c.params, concurrency: 8 }));
        const n = plain ? await timeMs(() => plain.run(plainInfo!, { params: c.params, concurrency: 8 })) : 0;
        const fresh = await open(`rc-fresh-${c.name}`);
        try {
          const freshInfo = await fresh.load(c.name);
          let summary: Awaited<ReturnType<Workspace["run"]>> | undefined;
          const r = await timeMs(async () => {
            summary = await fresh.run(freshInfo, { params: c.params, concurrency: 8 });
          });
          const hits = summary!.steps.filter((s) => s.status === "cached").length;
          if (hits !== c.steps) throw new Error(`bench s: ${c.name} from the remote cache: ${hits} of ${c.steps} steps cached`);
          if (rep > 0) {
            local.push(l);
            remote.push(r);
            raw.push(g);
            noServer.push(n);
          }
        } finally {
          await fresh.close();
        }
      }
      await home.close();
      await plain?.close();
      const ml = median(local);
      const mr = median(remote);
      log(`  ${c.label}: remote-served ${remote.map((x) => fmt(x, 0)).join(", ")} ms; local ${local.map((x) => fmt(x, 0)).join(", ")} ms`);
      rows.push({
        section: "s. shared cache", name: `fully cached run, ${c.label}: served by the cache server (empty local cache)`,
        measured: `${fmt(mr, 0)} ms (${fmt((mr * 1000) / c.steps, 0)} µs/step)`, floor: `${fmt(ml, 0)} ms from the local cache`, ratio: `${fmt(mr / ml, 1)}×`, target: "", met: null,
      });
      if (c.name === "wide") {
        const mraw = median(raw);
        log(`  the same ${names.length.toLocaleString("en-US")} artifacts by plain fetch(): ${raw.map((x) => fmt(x, 0)).join(", ")} ms`);
        rows.push({
          section: "s. shared cache", name: `the same run served by the cache server, against fetching its ${names.length.toLocaleString("en-US")} artifacts with plain fetch() (8 at a time)`,
          measured: `${fmt(mr, 0)} ms`, floor: `${fmt(mraw, 0)} ms`, ratio: `${fmt(mr / mraw, 2)}×`, target: "", met: null,
        });
        const mn = median(noServer);
        log(`  the same run from the local cache without a server configured: ${noServer.map((x) => fmt(x, 0)).join(", ")} ms`);
        rows.push({
          section: "s. shared cache", name: `fully cached run from the local cache, ${c.label}: with a server configured (the warm-up walk computes every key once more) vs none`,
          measured: `${fmt(ml, 0)} ms`, floor: `${fmt(mn, 0)} ms without a server`, ratio: `${fmt(ml / mn, 2)}×`, target: "", met: null,
        });
      }
    }
  } finally {
    await server.stop();
  }
  return rows;
}
