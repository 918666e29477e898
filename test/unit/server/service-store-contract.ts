/**
 * The service-store contract (tokens, audit log, idempotency keys): SQLite and PostgreSQL must
 * both pass it. `open` gives the service store of a fresh, migrated database.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ServiceStore } from "../../../src/store/run-store/index.ts";
import { thrown } from "../../helpers/errors.ts";

/** A fresh database for one test. */
export interface ServiceStoreTarget {
  open(): Promise<{ service: ServiceStore; close(): Promise<void> }>;
  dispose(): Promise<void>;
}

async function rejected(p: Promise<unknown>) {
  const err = await p.then(() => undefined, (e: unknown) => e);
  return thrown(() => {
    throw err ?? new Error("expected a rejection");
  });
}

/** Runs the contract against `makeTarget`'s databases. */
export function serviceStoreContract(name: string, makeTarget: () => Promise<ServiceStoreTarget>): void {
  describe(`service store contract: ${name}`, () => {
    let target: ServiceStoreTarget;
    let s: ServiceStore;
    let close: () => Promise<void>;
    beforeEach(async () => {
      target = await makeTarget();
      ({ service: s, close } = await target.open());
    });
    afterEach(async () => {
      await close();
      await target.dispose();
    });

    it("finds a live token by hash only, lists tokens, and forgets a revoked one", async () => {
      await s.createToken({ name: "ci", role: "operator", hash: "h1", createdAt: 10 });
      await s.createToken({ name: "dash", role: "viewer", hash: "h2", createdAt: 20 });
      expect(await s.findToken("h1")).toEqual({ name: "ci", role: "operator", createdAt: 10, revokedAt: null });
      expect(await s.findToken("nope")).toBeUndefined();
      expect(await s.revokeToken("ci", 30)).toMatchObject({ name: "ci", revokedAt: 30 });
      expect(await s.findToken("h1")).toBeUndefined();
      expect((await s.listTokens()).map((t) => [t.name, t.revokedAt])).toEqual([
        ["ci", 30],
        ["dash", null],
      ]);
    });

    it("refuses a second live token of one name, but allows the name again after a revoke", async () => {
      await s.createToken({ name: "ci", role: "operator", hash: "h1", createdAt: 1 });
      expect((await rejected(s.createToken({ name: "ci", role: "admin", hash: "h2", createdAt: 2 }))).code).toBe("SLUICE_TOKEN_EXISTS");
      await s.revokeToken("ci", 3);
      await s.createToken({ name: "ci", role: "admin", hash: "h3", createdAt: 4 });
      expect(await s.findToken("h3")).toMatchObject({ name: "ci", role: "admin" });
      expect((await rejected(s.revokeToken("ghost", 5))).code).toBe("SLUICE_TOKEN_NOT_FOUND");
    });

    it("keeps audit entries newest first, with details, limited and paged", async () => {
      for (let i = 1; i <= 5; i++) await s.appendAudit({ ts: i * 100, actor: `a${i}`, action: "run.start", target: `pipeline/p${i}`, result: i % 2 ? "ok" : "denied", details: { status: i % 2 ? 202 : 403 } });
      const all = await s.listAudit();
      expect(all.map((e) => e.actor)).toEqual(["a5", "a4", "a3", "a2", "a1"]);
      expect(all[1]).toMatchObject({ ts: 400, action: "run.start", target: "pipeline/p4", result: "denied", details: { status: 403 } });
      const page = await s.listAudit({ limit: 2 });
      expect(page.map((e) => e.actor)).toEqual(["a5", "a4"]);
      expect((await s.listAudit({ limit: 2, beforeSeq: page[1]!.seq })).map((e) => e.actor)).toEqual(["a3", "a2"]);
    });

    it("claims an idempotency key once per actor; later claims see the run id; a released claim is free again", async () => {
      expect(await s.claimIdempotencyKey("ci", "k1", 1)).toEqual({ claimed: true });
      expect(await s.claimIdempotencyKey("ci", "k1", 2)).toEqual({ claimed: false, runId: null, claimedAt: 1 });
      await s.setIdempotencyRun("ci", "k1", "r-1");
      expect(await s.claimIdempotencyKey("ci", "k1", 3)).toEqual({ claimed: false, runId: "r-1", claimedAt: 1 });
      expect(await s.claimIdempotencyKey("other", "k1", 4)).toEqual({ claimed: true });
      await s.releaseIdempotencyKey("other", "k1");
      expect(await s.claimIdempotencyKey("other", "k1", 5)).toEqual({ claimed: true });
      await s.releaseIdempotencyKey("ci", "k1");
      expect(await s.claimIdempotencyKey("ci", "k1", 6)).toEqual({ claimed: false, runId: "r-1", claimedAt: 1 });
    });

    it("lets exactly one of several servers take over a claim that never got its run, and none a claim that did", async () => {
      expect(await s.claimIdempotencyKey("ci", "stale", 10)).toEqual({ claimed: true });
      const takes = await Promise.all(Array.from({ length: 6 }, (_, i) => s.takeOverIdempotencyKey("ci", "stale", 10, 100 + i)));
      expect(takes.filter(Boolean)).toHaveLength(1);
      // The winner's claim is fresh: the old time no longer takes it.
      expect(await s.takeOverIdempotencyKey("ci", "stale", 10, 200)).toBe(false);
      await s.setIdempotencyRun("ci", "stale", "r-2");
      const now = await s.claimIdempotencyKey("ci", "stale", 300);
      expect(now).toMatchObject({ claimed: false, runId: "r-2" });
      expect(await s.takeOverIdempotencyKey("ci", "stale", (now as { claimedAt: number }).claimedAt, 400)).toBe(false);
    });

    it("gives one claim to many concurrent claimers of one key", async () => {
      const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => s.claimIdempotencyKey("ci", "race", i)));
      expect(claims.filter((c) => c.claimed)).toHaveLength(1);
      await expect(s.ping()).resolves.toBeUndefined();
    });
  });
}
