import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, Workspace } from "sluice";
import { createTestWorkspace, type TestWorkspace } from "sluice/testing";
import { CacheServerClient, signEntry } from "../../src/store/remote-cache/index.ts";
import { sha256 } from "../../src/util/canonical-json.ts";
import { startCacheServer, startStatusServer, type CacheServer } from "../helpers/cache-server.ts";
import { SHARED_CACHE_FILES, SHARED_STEPS } from "../fixtures/shared-cache-workspace.ts";

const SIGNING_KEY = "test-signing-key-0123456789";
let server: CacheServer;
const opened: Array<{ ws: Workspace; tw: TestWorkspace }> = [];

beforeAll(async () => {
  server = await startCacheServer();
}, 30_000);

afterAll(async () => {
  for (const { ws, tw } of opened) {
    await ws.close();
    tw.remove();
  }
  await server?.stop();
});

let teams = 0;
/** A team of its own per test: tests share one server without seeing each other's artifacts. */
const newTeam = (): string => `t${process.pid}-${++teams}`;

interface Machine {
  ws: Workspace;
  tw: TestWorkspace;
  /** Step ids whose code ran on this machine, in order. */
  ran(): string[];
  /** Messages of the warnings logged so far. */
  warnings(): string[];
  run(opts?: { force?: ReadonlySet<string> | "all" }): ReturnType<Workspace["run"]>;
}

/** One "machine": its own workspace folder and local cache, the shared server (or `url`) behind it. */
async function machine(team: string, env: Record<string, string> = {}): Promise<Machine> {
  const tw = createTestWorkspace(SHARED_CACHE_FILES);
  const lines: Array<{ level: number; msg: string }> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  const config = await loadConfig({
    root: tw.root,
    env: { SLUICE_REMOTE_CACHE_URL: server.url, SLUICE_REMOTE_CACHE_TOKEN: server.token, SLUICE_REMOTE_CACHE_TEAM: team, SLUICE_REMOTE_CACHE_SIGNING_KEY: SIGNING_KEY, ...env },
  });
  const ws = await Workspace.open(config, { logger: pino({ level: "warn" }, sink) });
  opened.push({ ws, tw });
  return {
    ws, tw,
    ran: () => (tw.exists("counter.log") ? tw.read("counter.log").split("\n").filter(Boolean) : []),
    warnings: () => lines.filter((l) => l.level === 40).map((l) => l.msg),
    run: async (opts = {}) => ws.run(await ws.load("shared"), opts),
  };
}

const statuses = (s: Awaited<ReturnType<Machine["run"]>>): Record<string, string> => Object.fromEntries(s.steps.map((x) => [x.id, x.status]));
/** PUTs the server logged for a team, once its log has caught up. */
async function puts(team: string): Promise<number> {
  await server.logged();
  return server.requests().filter((r) => r.method === "PUT" && r.url.endsWith(`?slug=${team}`)).length;
}

describe("shared remote cache (real turborepo-remote-cache server on loopback)", () => {
  it("round trip: a second machine with an empty local cache gets every step from the server, folder members included", async () => {
    const team = newTeam();
    const a = await machine(team);
    const first = await a.run();
    expect(first.status).toBe("succeeded");
    expect(a.ran()).toEqual([...SHARED_STEPS]);
    expect(a.ws.remoteCache!.stats).toMatchObject({ entriesUploaded: 6, unavailable: null });

    const b = await machine(team);
    const second = await b.run();
    expect(statuses(second)).toEqual(Object.fromEntries(SHARED_STEPS.map((id) => [id, "cached"])));
    expect(b.ran()).toEqual([]);
    expect(second.outputs).toEqual(first.outputs);
    expect(b.ws.remoteCache!.stats).toMatchObject({ entryHits: 6, rejectedEntries: 0, corruptObjects: 0 });
    // The folder travelled whole: it materialises from b's own cache, byte for byte.
    const tree = second.outputs.get("folder")!.tree!;
    const dest = b.tw.path("restored");
    await b.ws.cas.materializeDir(tree, dest);
    expect(fs.readFileSync(`${dest}/sub/small.txt`, "utf8")).toBe("3");
    await a.ws.cas.materializeDir(tree, a.tw.path("restored"));
    expect(fs.readFileSync(`${dest}/big.txt`)).toEqual(fs.readFileSync(a.tw.path("restored/big.txt")));
    expect(fs.statSync(`${dest}/big.txt`).size).toBeGreaterThan(16384); // a file object, streamed
    expect(b.warnings()).toEqual([]);
  }, 60_000);

  it("warms an empty local cache in a few batched rounds, one per layer of the graph, not one per step", async () => {
    const team = newTeam();
    const a = await machine(team);
    await a.ws.run(await a.ws.load("wide"));
    const b = await machine(team);
    const r = await b.ws.run(await b.ws.load("wide"));
    expect(r.steps.map((s) => s.status)).toEqual(Array(22).fill("cached"));
    expect(b.ran()).toEqual([]);
    // Three layers (load; normalize; 20 scale steps): entries then objects for each.
    expect(b.ws.remoteCache!.stats).toMatchObject({ entryHits: 22, fetchRounds: 6 });
  }, 60_000);

  it("warms map instances in one batch too, and goes on below the map", async () => {
    const team = newTeam();
    const a = await machine(team);
    const first = await a.ws.run(await a.ws.load("mapped"));
    expect(first.status).toBe("succeeded");
    const instances = first.steps.filter((s) => s.mapId === "measure").length;
    expect(instances).toBe(7); // the words of data/input.txt
    const b = await machine(team);
    const r = await b.ws.run(await b.ws.load("mapped"));
    expect(r.steps.filter((s) => s.status !== "cached")).toEqual([]);
    expect(b.ran()).toEqual([]);
    expect(r.outputs.get("sum")).toEqual(first.outputs.get("sum"));
    // load, items, the 7 instances, sum: four layers, entries then objects for each.
    expect(b.ws.remoteCache!.stats).toMatchObject({ entryHits: 10, fetchRounds: 8 });
  }, 60_000);

  it("a step that reruns on the second machine reads its folder input fetched from the server", async () => {
    const team = newTeam();
    await (await machine(team)).run();
    const b = await machine(team);
    const r = await b.run({ force: new Set(["list"]) });
    expect(r.status).toBe("succeeded");
    expect(b.ran()).toEqual(["list"]);
    expect(statuses(r).folder).toBe("cached");
  }, 60_000);

  it("a thread-pool step on the second machine reads inputs that came from the server (its own connection to the local cache)", async () => {
    const team = newTeam();
    const a = await machine(team);
    const first = await a.ws.run(await a.ws.load("shared-thread"));
    expect(first.status).toBe("succeeded");
    const b = await machine(team);
    const r = await b.ws.run(await b.ws.load("shared-thread"), { force: new Set(["list"]) });
    expect(r.status, JSON.stringify(r.error)).toBe("succeeded");
    expect(b.ran()).toEqual(["list"]);
    expect(r.outputs.get("list")).toEqual(first.outputs.get("list"));
  }, 60_000);

  it("is write-once: artifacts already on the server are found by HEAD and never PUT again", async () => {
    const team = newTeam();
    await (await machine(team)).run();
    // 6 entries and 8 objects (3 json rows, a file, a folder manifest and its 2 members).
    expect(await puts(team)).toBe(14);
    const again = await machine(team);
    await again.run({ force: "all" }); // reruns every step and publishes every entry again
    expect(again.ran()).toEqual([...SHARED_STEPS]);
    expect(again.ws.remoteCache!.stats).toMatchObject({ entriesUploaded: 6, artifactsPut: 0, artifactsPresent: 14 });
    expect(await puts(team)).toBe(14);
  }, 60_000);

  it("never overwrites a different object already under a key; readers see the mismatch, warn, and rerun the step", async () => {
    const team = newTeam();
    // Learn the digest of load's output from a machine without a server.
    const probe = createTestWorkspace(SHARED_CACHE_FILES);
    const pws = await Workspace.open(await loadConfig({ root: probe.root, env: {} }));
    const loadOut = (await pws.run(await pws.load("shared"))).outputs.get("load")!.lines!;
    await pws.close();
    probe.remove();
    const name = `cas-${loadOut.slice(7)}`;
    const planted = await fetch(`${server.url}/v8/artifacts/${name}?slug=${team}`, { method: "PUT", headers: { authorization: `Bearer ${server.token}`, "content-type": "application/octet-stream" }, body: "not what the digest says" });
    expect(planted.status).toBe(200);

    const a = await machine(team);
    await a.run();
    expect(fs.readFileSync(server.artifactPath(team, name), "utf8")).toBe("not what the digest says");
    await server.logged();
    expect(server.requests().filter((r) => r.method === "PUT" && r.url === `/v8/artifacts/${name}?slug=${team}`).length).toBe(1); // only the planted one

    const b = await machine(team);
    const r = await b.run();
    expect(r.status).toBe("succeeded");
    expect(b.ran()).toEqual(["load"]); // its output is the same, so everything downstream still hits
    expect(statuses(r).normalize).toBe("cached");
    expect(b.warnings()).toContain("remote cache object does not match its digest: treated as a miss; remove the artifact from the server");
    expect(b.ws.remoteCache!.stats.corruptObjects).toBe(1);
  }, 60_000);

  it("tampered object bytes on the server's disk: digest mismatch, a miss with a warning, and the step reruns", async () => {
    const team = newTeam();
    const a = await machine(team);
    const first = await a.run();
    const blob = first.outputs.get("blob")!.file!;
    const file = server.artifactPath(team, `cas-${blob.slice(7)}`);
    fs.appendFileSync(file, "tampered");

    const b = await machine(team);
    const r = await b.run();
    expect(r.status).toBe("succeeded");
    expect(b.ran()).toEqual(["blob"]);
    expect(r.outputs.get("blob")).toEqual(first.outputs.get("blob"));
    expect(b.warnings()).toContain("remote cache object does not match its digest: treated as a miss; remove the artifact from the server");
    // Nothing wrong was stored locally: the output in b's cache hashes to its digest.
    expect(b.ws.cas.localCheck(blob)).toBe("ok");
  }, 60_000);

  it("tampered action-cache entry (edited outputs, forged with another key, or unsigned) is rejected and its step reruns", async () => {
    const team = newTeam();
    const a = await machine(team);
    const first = await a.run();
    const key = (id: string): string => first.steps.find((s) => s.id === id)!.cacheKey!.slice(7);
    const entryFile = (id: string): string => server.artifactPath(team, `ac-${key(id)}`);
    // shout: point its output at load's output (a valid object), keeping the old signature.
    const shout = JSON.parse(fs.readFileSync(entryFile("shout"), "utf8"));
    const inner = JSON.parse(shout.entry);
    inner.outputs.text = first.outputs.get("load")!.lines;
    fs.writeFileSync(entryFile("shout"), JSON.stringify({ ...shout, entry: JSON.stringify(inner) }));
    // blob: a well-formed entry signed with a key the machines do not share.
    const blobEntry = JSON.parse(JSON.parse(fs.readFileSync(entryFile("blob"), "utf8")).entry);
    fs.writeFileSync(entryFile("blob"), signEntry({ ...blobEntry, outputs: { file: first.outputs.get("load")!.lines } }, "an-attacker-key-0123456789"));
    // list: no signature at all.
    fs.writeFileSync(entryFile("list"), JSON.stringify({ key: `sha256:${key("list")}`, outputs: { sizes: first.outputs.get("list")!.sizes } }));

    const b = await machine(team);
    const r = await b.run();
    expect(r.status).toBe("succeeded");
    expect(b.ran().sort()).toEqual(["blob", "list", "shout"]);
    expect(r.outputs).toEqual(first.outputs);
    expect(b.ws.remoteCache!.stats.rejectedEntries).toBe(3);
    expect(b.warnings().filter((w) => w.startsWith("remote cache entry rejected"))).toHaveLength(3);
  }, 60_000);

  it("pushObjects hands objects to another machine right away (for a worker's inputs and outputs): a file and a folder", async () => {
    const team = newTeam();
    const a = await machine(team);
    a.tw.write("big/data.bin", "z".repeat(100_000));
    a.tw.write("big/more/small.txt", "small");
    const file = await a.ws.cas.putFile(a.tw.path("data/input.txt"));
    const dir = await a.ws.cas.putDir(a.tw.path("big"));
    expect(await a.ws.remoteCache!.pushObjects([file.digest, dir.digest])).toBe(true);
    const b = await machine(team);
    expect(b.ws.cas.localCheck(file.digest)).toBe("missing");
    expect(b.ws.cas.getBytes(file.digest)!.toString()).toBe(a.tw.read("data/input.txt"));
    await b.ws.cas.materializeDir(dir.digest, b.tw.path("got"));
    expect(b.tw.read("got/data.bin")).toBe("z".repeat(100_000));
    expect(b.tw.read("got/more/small.txt")).toBe("small");
  }, 60_000);

  it("shares an entry whose outputs a remote worker pushed (not held locally) once the server has them, and never one whose outputs are nowhere", async () => {
    const team = newTeam();
    const worker = await machine(team);
    const made = worker.ws.cas.putBytes(Buffer.from('"made on a worker"'));
    expect(await worker.ws.remoteCache!.pushObjects([made])).toBe(true);
    const coordinator = await machine(team);
    const entry = (out: string, salt: string): Parameters<Workspace["actionCache"]["put"]>[0] => ({
      key: sha256(`key ${salt}`) as never, outputs: { out: out as never }, createdAt: Date.now(), record: {} as never,
      pipeline: "p", stepId: "s", runId: "r", durationMs: 1,
    });
    coordinator.ws.actionCache.put(entry(made, "pushed"));
    coordinator.ws.actionCache.put(entry(sha256("nowhere"), "nowhere"));
    await coordinator.ws.remoteCache!.flush();
    expect(coordinator.ws.remoteCache!.stats).toMatchObject({ entriesUploaded: 1, uploadsDropped: 1, unavailable: null });
    const reader = await machine(team);
    expect(reader.ws.actionCache.get(sha256("key pushed") as never)?.outputs).toEqual({ out: made });
    expect(reader.ws.cas.getBytes(made)!.toString()).toBe('"made on a worker"');
    expect(reader.ws.actionCache.get(sha256("key nowhere") as never)).toBeUndefined();
  }, 60_000);

  it("works with a server that keeps Turborepo artifact tags (TURBO_REMOTE_CACHE_SIGNATURE_KEY set)", async () => {
    const tagged = await startCacheServer({ env: { TURBO_REMOTE_CACHE_SIGNATURE_KEY: "server-side-key" } });
    try {
      const env = { SLUICE_REMOTE_CACHE_URL: tagged.url, SLUICE_REMOTE_CACHE_TOKEN: tagged.token };
      const team = newTeam();
      await (await machine(team, env)).run();
      const b = await machine(team, env);
      expect(statuses(await b.run())).toEqual(Object.fromEntries(SHARED_STEPS.map((id) => [id, "cached"])));
    } finally {
      await tagged.stop();
    }
  }, 60_000);

  it("read-only mode reads but never writes", async () => {
    const team = newTeam();
    const ro = await machine(team, { SLUICE_REMOTE_CACHE_READ_ONLY: "1" });
    const r = await ro.run();
    expect(r.status).toBe("succeeded");
    expect(await ro.ws.remoteCache!.pushObjects([r.outputs.get("load")!.lines!])).toBe(false);
    expect(ro.ran()).toEqual([...SHARED_STEPS]);
    expect(await puts(team)).toBe(0);
    expect(server.requests().filter((q) => q.method === "HEAD" && q.url.endsWith(`?slug=${team}`))).toEqual([]);
    expect(fs.existsSync(`${server.storagePath}/${team}`)).toBe(false);

    // It does read: entries written by a trusted machine are hits for it.
    await (await machine(team)).run();
    const ro2 = await machine(team, { SLUICE_REMOTE_CACHE_READ_ONLY: "true" });
    expect(statuses(await ro2.run())).toEqual(Object.fromEntries(SHARED_STEPS.map((id) => [id, "cached"])));
  }, 60_000);
});

describe("when the cache server fails", () => {
  it("a server answering 500 makes the run fall back to the local cache with one warning; the run succeeds and its entries are sound", async () => {
    const broken = await startStatusServer(500);
    try {
      const m = await machine(newTeam(), { SLUICE_REMOTE_CACHE_URL: broken.url });
      const r = await m.run();
      expect(r.status).toBe("succeeded");
      expect(m.ran()).toEqual([...SHARED_STEPS]);
      expect(m.warnings().filter((w) => w.startsWith("remote cache unavailable"))).toHaveLength(1);
      expect(m.ws.remoteCache!.stats.unavailable).toMatch(/HTTP 500/);
      expect(broken.requests()).toBe(1); // after the first 500, nothing more is asked of it during the run
      // The local cache is intact: the same run again is fully cached, with no step code run.
      const again = await m.run();
      expect(statuses(again)).toEqual(Object.fromEntries(SHARED_STEPS.map((id) => [id, "cached"])));
      expect(m.ran()).toEqual([...SHARED_STEPS]);
    } finally {
      await broken.stop();
    }
  }, 60_000);

  it("a wrong token (the real server answers 401) is 'unavailable', not a miss: one warning, nothing uploaded, the run succeeds", async () => {
    const team = newTeam();
    const m = await machine(team, { SLUICE_REMOTE_CACHE_TOKEN: "not-the-token" });
    const r = await m.run();
    expect(r.status).toBe("succeeded");
    expect(m.ws.remoteCache!.stats.unavailable).toMatch(/HTTP 401/);
    expect(m.warnings().filter((w) => w.startsWith("remote cache unavailable"))).toHaveLength(1);
    expect(await puts(team)).toBe(0);
  }, 60_000);

  it("a server that refuses writes (the real server with READ_ONLY=true answers PUT with 403) is 'unavailable' for the rest of the run; the run succeeds", async () => {
    const ro = await startCacheServer({ env: { READ_ONLY: "true" } });
    try {
      const m = await machine(newTeam(), { SLUICE_REMOTE_CACHE_URL: ro.url, SLUICE_REMOTE_CACHE_TOKEN: ro.token });
      const r = await m.run();
      expect(r.status).toBe("succeeded");
      expect(m.ws.remoteCache!.stats.unavailable).toMatch(/PUT .*HTTP 403/);
      expect(m.warnings().filter((w) => w.startsWith("remote cache unavailable"))).toHaveLength(1);
      // Uploads already in flight may have tried too, but no entry was sent: its objects were refused.
      await ro.logged();
      const puts403 = ro.requests().filter((q) => q.method === "PUT");
      expect(puts403.length).toBeGreaterThan(0);
      expect(puts403.filter((q) => q.url.includes("/ac-"))).toEqual([]);
      expect(statuses(await m.run())).toEqual(Object.fromEntries(SHARED_STEPS.map((id) => [id, "cached"])));
    } finally {
      await ro.stop();
    }
  }, 60_000);

  it("a server that accepts connections but never answers times out per request and is 'unavailable'", async () => {
    const silent = await startStatusServer("never");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-rc-timeout-"));
    const client = new CacheServerClient({ url: silent.url, timeoutMs: 300, inlineMaxBytes: 16384, tmpDir: dir });
    try {
      const [r] = client.fetch(["cas-0"]);
      expect(r).toEqual({ status: "unavailable", reason: "GET cas-0: no answer within 300 ms" });
      expect(await client.upload([{ name: "cas-1", bytes: Buffer.from("x") }])).toMatchObject({ status: "unavailable" });
      // Once its thread is gone, the client answers at once instead of waiting out a timeout.
      await client.close();
      expect(client.fetch(["cas-2"])).toEqual([{ status: "unavailable", reason: "cache client thread stopped" }]);
    } finally {
      await client.close();
      await silent.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("with a cache server configured, a missing input still fails the run with its own error", async () => {
    const m = await machine(newTeam());
    const r = await m.ws.run(await m.ws.load("missing"));
    expect(r.status).toBe("failed");
    expect(r.error?.code).toBe("SLUICE_INPUT_MISSING");
  }, 60_000);

  it("a server stopped mid-run: uploads stop with a warning, the run succeeds, and nothing half-written is served later", async () => {
    const own = await startCacheServer();
    const team = newTeam();
    const env = { SLUICE_REMOTE_CACHE_URL: own.url, SLUICE_REMOTE_CACHE_TOKEN: own.token };
    const a = await machine(team, env);
    a.tw.write("block", "");
    const info = await a.ws.load("gated");
    const gatedRun = a.ws.run(info, {
      onEvent: (e) => {
        if (e.type === "step.started" && e.stepId === "gate") void own.stop().then(() => fs.rmSync(a.tw.path("block")));
      },
    });
    const r = await gatedRun;
    expect(r.status).toBe("succeeded");
    expect(a.warnings().filter((w) => w.startsWith("remote cache unavailable"))).toHaveLength(1);
    // Locally everything is there and sound.
    const again = await a.ws.run(info);
    expect(again.steps.map((s) => s.status)).toEqual(["cached", "cached", "cached"]);
    expect((await a.ws.cas.verifyAll()).corrupt).toEqual([]);
    // Another machine pointed at the stopped server runs everything itself, with a warning.
    const b = await machine(team, env);
    const rb = await b.ws.run(await b.ws.load("gated"));
    expect(rb.status).toBe("succeeded");
    expect(b.ran()).toEqual(["load", "normalize", "gate"]);
    expect(b.warnings().filter((w) => w.startsWith("remote cache unavailable"))).toHaveLength(1);
  }, 60_000);
});
