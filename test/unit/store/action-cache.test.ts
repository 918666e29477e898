import { describe, expect, it } from "vitest";
import { useTwoConnections } from "../../helpers/two-connections.ts";
import type { CacheKey } from "../../../src/hash/cache-key.ts";
import { ActionCache, parseOutputs, type ActionEntry } from "../../../src/store/action-cache.ts";
import { GroupCommit } from "../../../src/store/cache-db.ts";
import { LocalCas } from "../../../src/store/local-cas.ts";

const db = useTwoConnections("sluice-action-cache-");

const key = (n: number): CacheKey => `sha256:${n.toString(16).padStart(64, "0")}` as CacheKey;

/** An entry of pipeline "p" whose one output is stored inline in `cas`. */
function entry(cas: LocalCas, n: number): ActionEntry {
  const out = cas.putBytes(Buffer.from(JSON.stringify(n)));
  return { key: key(n), outputs: { out }, createdAt: n, record: {} as ActionEntry["record"], pipeline: "p", stepId: `s${n}`, runId: "r", durationMs: 1 };
}

describe("parseOutputs", () => {
  it("reads what JSON.parse reads, one port or many, escaped or not", () => {
    const d = key(7);
    const forms = [{ out: d }, { a: d, b: key(8) }, {}, { 'we"ird\\': d }, { x: 'sha256:"quoted"' }, { __proto__: d }].map((o) => JSON.stringify(o));
    forms.push('{"n":"a\\"b"}', '{"n":"a\\u0041"}', `{"__proto__":"${d}"}`);
    for (const text of forms) {
      const padded = `K 12 ${text}\nnext`;
      const start = padded.indexOf("{");
      const got = parseOutputs(padded, start, padded.indexOf("\n"));
      expect(got).toEqual(JSON.parse(text));
      expect(Object.keys(got)).toEqual(Object.keys(JSON.parse(text)));
    }
  });
});

describe("ActionCache.preload", () => {
  it("reads nothing again while no other connection has written, and re-reads after one has", () => {
    const cas = new LocalCas({ dir: db.root, db: db.mine });
    const cache = new ActionCache(db.mine);
    const both = [entry(cas, 1), entry(cas, 2)];
    for (const e of both) cache.put(e);
    const present = cache.preload("p");
    expect(both.map((e) => present?.has(e.outputs.out!))).toEqual([true, true]);
    cache.put(entry(cas, 3));
    // Nothing new in the database but this connection's writes, which the cache keeps: no query.
    expect(cache.preload("p")).toBeUndefined();
    expect(cache.getLocal(key(3))?.outputs.out).toMatch(/^sha256:/);

    // Another process prunes an entry: the next preload reads the table again and misses it.
    db.theirs.prepare("DELETE FROM action_cache WHERE key = ?").run(key(1));
    expect(cache.preload("p")).toBeDefined();
    expect(cache.getLocal(key(1))).toBeUndefined();
    expect(cache.getLocal(key(2))).toBeDefined();
  });

  it("reads entries back exactly, with ports of one name, of several, and not ASCII", () => {
    const cas = new LocalCas({ dir: db.root, db: db.mine });
    const writer = new ActionCache(db.mine);
    const outs = [1, 2, 3, 4].map((n) => cas.putBytes(Buffer.from(`v${n}`)));
    const shapes: Array<Record<string, string>> = [{ out: outs[0]! }, { out: outs[1]! }, { outcome: outs[2]! }, { "sortie_é": outs[3]!, out: outs[0]! }];
    shapes.forEach((outputs, n) => writer.put({ ...entry(cas, n + 10), outputs: outputs as ActionEntry["outputs"] }));
    // Another connection (another process) reads them all in one preload: a scan of the table
    // while it holds only this pipeline's entries, then through the index once another's is there.
    for (const others of [false, true]) {
      if (others) writer.put({ ...entry(cas, 99), pipeline: "q" });
      const reader = new ActionCache(db.theirs);
      expect(reader.preload("p")).toBeDefined();
      shapes.forEach((outputs, n) => expect(reader.getLocal(key(n + 10))).toEqual({ key: key(n + 10), outputs, createdAt: n + 10 }));
      expect(reader.getLocal(key(99))?.createdAt).toBe(others ? 99 : undefined);
    }
  });

  it("returns the inline objects present, whether it reads them all or looks each up", () => {
    const cas = new LocalCas({ dir: db.root, db: db.mine });
    const cache = new ActionCache(db.mine);
    const outs = [1, 2, 3].map((n) => {
      const e = entry(cas, n);
      cache.put(e);
      return e.outputs.out!;
    });
    // Few inline objects beside the entries' outputs: all of them are read.
    db.theirs.prepare("DELETE FROM cas_inline WHERE digest = ?").run(outs[0]);
    const all = cache.preload("p")!;
    expect(outs.map((d) => all.has(d))).toEqual([false, true, true]);
    expect(all.has(key(2))).toBe(false); // a key, not an object
    // Many more (objects of other pipelines): only the entries' outputs are looked up.
    for (let n = 100; n < 120; n++) cas.putBytes(Buffer.from(`other ${n}`));
    db.theirs.prepare("DELETE FROM cas_inline WHERE digest = ?").run(outs[1]);
    const some = cache.preload("p")!;
    expect(outs.map((d) => some.has(d))).toEqual([false, false, true]);
  });

  it("answers a miss from memory when its preload was the whole table and no other connection wrote since", () => {
    const cas = new LocalCas({ dir: db.root, db: db.mine });
    const commits = new GroupCommit(db.mine);
    const cache = new ActionCache(db.mine, { batchVersion: () => commits.batchVersion });
    cache.put(entry(cas, 1));
    cache.preload("p");
    // A row this connection writes behind the cache's back is not asked for: memory is trusted...
    const raw = db.mine.prepare("INSERT INTO action_cache VALUES (?, '{}', '{}', ?, 's', 'r', 0, 0)");
    raw.run(key(2), "p");
    expect(commits.run(() => cache.getLocal(key(2)))).toBeUndefined();
    // ...but outside a write batch nothing says the table is unchanged: it is asked.
    commits.flush();
    expect(cache.getLocal(key(2))).toBeDefined();
    // Another connection's entry is found: its commit changes data_version.
    db.theirs.prepare("INSERT INTO action_cache VALUES (?, '{}', '{}', 'p', 's', 'r', 0, 0)").run(key(3));
    expect(commits.run(() => cache.getLocal(key(3)))).toBeDefined();
    commits.flush();
    // With another pipeline's entries in the table, the preload is not the whole of it.
    cache.forget();
    raw.run(key(4), "other");
    cache.preload("p");
    raw.run(key(5), "p");
    expect(commits.run(() => cache.getLocal(key(5)))).toBeDefined();
    commits.flush();
  });

  it("forgets what it holds when a write batch is lost, so a lookup reads the database", () => {
    const cas = new LocalCas({ dir: db.root, db: db.mine });
    const cache = new ActionCache(db.mine);
    const commits = new GroupCommit(db.mine);
    commits.onLost(() => {
      cache.forget();
      cas.forget();
    });
    cache.preload("p");
    const e = commits.run(() => entry(cas, 7));
    commits.run(() => cache.put(e));
    expect(cache.getLocal(key(7))).toBeDefined();
    // What SQLite does by itself after some errors (disk full, I/O): the transaction is rolled back.
    db.mine.exec("ROLLBACK");
    commits.flush();
    expect(cache.getLocal(key(7))).toBeUndefined();
    expect(cas.localCheck(e.outputs.out!)).toBe("missing");
  });
});
