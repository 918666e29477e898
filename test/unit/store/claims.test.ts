import { describe, expect, it } from "vitest";
import { useTwoConnections } from "../../helpers/two-connections.ts";
import { GroupCommit } from "../../../src/store/cache-db.ts";
import { Claims } from "../../../src/store/claims.ts";

const KEY = "sha256:" + "ab".repeat(32);

const KEY2 = "sha256:" + "cd".repeat(32);

const db = useTwoConnections("sluice-claims-");

/** The claim rows other processes can see. */
function rows(): unknown[] {
  return db.theirs.prepare("SELECT key, run_id, pid FROM claims ORDER BY key").all();
}

/** Claims of this process (pid 1) and of a live other process (pid 2). */
function pair(): { a: Claims; b: Claims; commits: GroupCommit } {
  const alive = (): boolean => true;
  const a = new Claims(db.mine, "run-a", { host: "h", pid: 1, isAlive: alive });
  const b = new Claims(db.theirs, "run-b", { host: "h", pid: 2, isAlive: alive });
  const commits = new GroupCommit(db.mine);
  a.bindBatches(commits);
  return { a, b, commits };
}

describe("Claims with releases at the end of a write batch", () => {
  it("keeps the key claimed for other processes until the batch that released it commits", () => {
    const { a, b, commits } = pair();
    commits.run(() => expect(a.tryAcquire(KEY)).toBeUndefined());
    expect(rows()).toEqual([]); // held in memory while the batch is open
    commits.flush();
    expect(rows()).toEqual([{ key: KEY, run_id: "run-a", pid: 1 }]);
    expect(b.tryAcquire(KEY)).toMatchObject({ runId: "run-a", pid: 1 });
    commits.run(() => a.releaseLater(KEY));
    // Still claimed in the database: the release waits for the batch's commit.
    expect(db.mine.prepare("SELECT run_id FROM claims WHERE key = ?").get(KEY)).toEqual({ run_id: "run-a" });
    commits.flush();
    expect(b.tryAcquire(KEY)).toBeUndefined();
  });

  it("takes a pending release back when the same run claims the key again in that batch", () => {
    const { a, b, commits } = pair();
    commits.run(() => {
      expect(a.tryAcquire(KEY)).toBeUndefined();
      a.releaseLater(KEY);
      expect(a.tryAcquire(KEY)).toBeUndefined();
    });
    commits.flush();
    expect(b.tryAcquire(KEY)).toMatchObject({ runId: "run-a" });
  });

  it("drops pending releases with releaseAll at the end of a run", () => {
    const { a, b, commits } = pair();
    commits.run(() => {
      a.tryAcquire(KEY);
      a.releaseLater(KEY);
      a.releaseAll();
    });
    commits.flush();
    expect(b.tryAcquire(KEY)).toBeUndefined();
  });
});

describe("Claims held in memory inside a write batch", () => {
  it("writes no row for a claim taken and released within one batch", () => {
    const { a, b, commits } = pair();
    commits.run(() => {
      expect(a.tryAcquire(KEY)).toBeUndefined();
      a.releaseLater(KEY);
    });
    commits.flush();
    expect(rows()).toEqual([]);
    expect(b.tryAcquire(KEY)).toBeUndefined();
  });

  it("writes a row at the commit for a claim still held, and deletes it at the commit after its release", () => {
    const { a, b, commits } = pair();
    commits.run(() => {
      a.tryAcquire(KEY);
      a.tryAcquire(KEY2);
      a.releaseLater(KEY2);
    });
    commits.flush();
    expect(rows()).toEqual([{ key: KEY, run_id: "run-a", pid: 1 }]);
    expect(b.tryAcquire(KEY)).toMatchObject({ runId: "run-a" });
    commits.run(() => a.releaseLater(KEY));
    commits.flush();
    expect(rows()).toEqual([]);
  });

  it("takes the row path, and names the holder, when another process holds claim rows", () => {
    const { a, b, commits } = pair();
    expect(b.tryAcquire(KEY)).toBeUndefined(); // the other process's row, committed
    commits.run(() => {
      expect(a.tryAcquire(KEY)).toMatchObject({ runId: "run-b", pid: 2 });
      expect(a.tryAcquire(KEY2)).toBeUndefined();
      // Written at once, not at the commit: the batch could not rule out the other process.
      expect(db.mine.prepare("SELECT run_id FROM claims WHERE key = ?").get(KEY2)).toEqual({ run_id: "run-a" });
    });
    commits.flush();
  });

  it("shows a run's in-memory claim to another run of the same process", () => {
    const { a, commits } = pair();
    const sibling = new Claims(db.mine, "run-c", { host: "h", pid: 1, isAlive: () => true });
    sibling.bindBatches(commits);
    commits.run(() => {
      expect(a.tryAcquire(KEY)).toBeUndefined();
      expect(sibling.tryAcquire(KEY)).toMatchObject({ runId: "run-a" });
      a.releaseLater(KEY);
      expect(sibling.tryAcquire(KEY)).toBeUndefined();
    });
    commits.flush();
    expect(rows()).toEqual([{ key: KEY, run_id: "run-c", pid: 1 }]);
    commits.run(() => sibling.releaseAll());
    commits.flush();
    expect(rows()).toEqual([]);
  });
});
