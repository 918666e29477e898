/**
 * The model-registry contract: every database (SQLite, PostgreSQL) must pass these.
 * Call `modelRegistryContract(name, makeTarget)` from a test file; `makeTarget` gives a fresh,
 * empty database per test.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ModelLineage, ModelRegistry, NewModelVersion } from "../../../src/store/run-store/index.ts";

/** A registry opened on a target's database, and how to close what it opened. */
export interface OpenedRegistry {
  models: ModelRegistry;
  close(): Promise<void>;
}

/** One empty database a contract test runs against. */
export interface ModelRegistryTarget {
  /** Opens a registry on this target's database (migrating it); may be called again, also concurrently. */
  open(): Promise<OpenedRegistry>;
  /** Drops the database and whatever else the target made. Registries are closed before. */
  dispose(): Promise<void>;
}

/** A digest made from a small number, distinct per number. */
export const modelDigest = (n: number): string => `sha256:${n.toString(16).padStart(64, "0")}`;

/** Lineage with sensible values; `over` replaces fields. */
export function aLineage(over: Partial<ModelLineage> = {}): ModelLineage {
  return {
    runId: "run-1",
    stepId: "train",
    pipeline: "iris",
    inputs: { features: modelDigest(900), labels: modelDigest(901) },
    params: { l2: 0.1, layers: [16, 8] },
    codeDigest: modelDigest(902),
    ...over,
  };
}

/** A registration with sensible values; `over` replaces fields. */
export function aModel(over: Partial<NewModelVersion> = {}): NewModelVersion {
  return {
    name: "iris",
    digest: modelDigest(1),
    metrics: { accuracy: 0.93, loss: 0.21 },
    signature: { inputs: [{ name: "x", type: "float32", shape: [null, 4] }], outputs: [{ name: "label", type: "int64" }] },
    lineage: aLineage(),
    createdAt: 1_700_000_000_000,
    ...over,
  };
}

const T0 = 1_700_000_000_000;

/** Registers the contract suite for one model-registry implementation. */
export function modelRegistryContract(name: string, makeTarget: () => Promise<ModelRegistryTarget>): void {
  describe(`model registry contract: ${name}`, () => {
    let target: ModelRegistryTarget;
    let opened: OpenedRegistry[];
    let models: ModelRegistry;

    const open = async (): Promise<ModelRegistry> => {
      const o = await target.open();
      opened.push(o);
      return o.models;
    };

    /** Registers versions 1..n of `name` with digests base+1..base+n, one after the other. */
    const registerMany = async (n: number, modelName = "iris", base = 0): Promise<void> => {
      for (let i = 1; i <= n; i++) await models.register(aModel({ name: modelName, digest: modelDigest(base + i), createdAt: T0 + base + i }));
    };

    beforeEach(async () => {
      target = await makeTarget();
      opened = [];
      models = await open();
    });

    afterEach(async () => {
      for (const o of opened) await o.close();
      await target.dispose();
    });

    describe("versions", () => {
      it("numbers a name's versions 1, 2, 3 in order of registration, each name on its own", async () => {
        const v1 = await models.register(aModel({ digest: modelDigest(1) }));
        const v2 = await models.register(aModel({ digest: modelDigest(2) }));
        const other = await models.register(aModel({ name: "wine", digest: modelDigest(3) }));
        const v3 = await models.register(aModel({ digest: modelDigest(4) }));
        expect([v1.version, v2.version, v3.version]).toEqual([1, 2, 3]);
        expect(other.version).toBe(1);
      });

      it("keeps every field of a registration and makes it a candidate", async () => {
        const m = aModel({ tags: { owner: "ada", dataset: "iris-2024" } });
        const registered = await models.register(m);
        const expected = { ...m, version: 1, stage: "candidate", stageUpdatedAt: m.createdAt };
        expect(registered).toEqual(expected);
        expect(await models.get("iris", 1)).toEqual(expected);
      });

      it("gives a registration without tags an empty tag set", async () => {
        expect((await models.register(aModel())).tags).toEqual({});
      });

      it("returns the existing version when the same bytes are registered again under a name, unchanged", async () => {
        const first = await models.register(aModel({ digest: modelDigest(7), metrics: { accuracy: 0.9 } }));
        await models.register(aModel({ digest: modelDigest(8) }));
        const again = await models.register(aModel({ digest: modelDigest(7), metrics: { accuracy: 0.1 }, createdAt: T0 + 99 }));
        expect(again).toEqual(first);
        expect((await models.list("iris")).map((m) => m.version)).toEqual([2, 1]);
      });

      it("gives the same bytes under another name that name's own version", async () => {
        await models.register(aModel({ name: "iris", digest: modelDigest(5) }));
        const other = await models.register(aModel({ name: "iris-copy", digest: modelDigest(5) }));
        expect(other).toMatchObject({ name: "iris-copy", version: 1 });
      });

      it("gives concurrent registrations of different bytes different versions", async () => {
        const results = await Promise.all(Array.from({ length: 12 }, (_, i) => models.register(aModel({ digest: modelDigest(100 + i) }))));
        expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
        expect(new Set(results.map((r) => r.digest)).size).toBe(12);
      });

      it("gives concurrent registrations of the same bytes one version", async () => {
        const results = await Promise.all(Array.from({ length: 6 }, () => models.register(aModel({ digest: modelDigest(42) }))));
        expect(new Set(results.map((r) => r.version))).toEqual(new Set([1]));
        expect(await models.list()).toHaveLength(1);
      });

      it("numbers versions without gaps or repeats when two registries on one database register at once", async () => {
        const second = await open();
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? models : second).register(aModel({ digest: modelDigest(200 + (i % 7)) }))),
        );
        const byDigest = new Map(results.map((r) => [r.digest, r.version]));
        expect(byDigest.size).toBe(7);
        expect([...byDigest.values()].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7]);
        for (const r of results) expect(r.version).toBe(byDigest.get(r.digest));
      });

      it("rejects a registration with bad fields, naming each one", async () => {
        const bad = aModel({ name: "no spaces", digest: "md5:abc", metrics: { accuracy: Number.NaN }, createdAt: -1 });
        const err = await models.register(bad).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "SLUICE_PARAMS_INVALID", details: { field: "name" } });
        const message = (err as Error).message;
        for (const field of ["name:", "digest:", "metrics.accuracy:", "createdAt:"]) expect(message).toContain(field);
        expect(await models.list()).toEqual([]);
      });
    });

    describe("reading", () => {
      it("gets the latest version when none is named, and undefined for unknown names and versions", async () => {
        await registerMany(3);
        expect((await models.get("iris"))?.version).toBe(3);
        expect((await models.get("iris", 2))?.digest).toBe(modelDigest(2));
        expect(await models.get("iris", 4)).toBeUndefined();
        expect(await models.get("iris", 0)).toBeUndefined();
        expect(await models.get("nope")).toBeUndefined();
      });

      it("lists versions newest first, all names or one", async () => {
        await registerMany(2, "iris", 0);
        await registerMany(2, "wine", 10);
        await models.register(aModel({ name: "iris", digest: modelDigest(3), createdAt: T0 + 20 }));
        expect((await models.list()).map((m) => `${m.name}@${m.version}`)).toEqual(["iris@3", "wine@2", "wine@1", "iris@2", "iris@1"]);
        expect((await models.list("wine")).map((m) => m.version)).toEqual([2, 1]);
        expect(await models.list("nope")).toEqual([]);
      });
    });

    describe("champions", () => {
      it("has no champion before a promotion", async () => {
        await registerMany(2);
        expect(await models.champion("iris")).toBeUndefined();
        expect(await models.champion("nope")).toBeUndefined();
      });

      it("promotes a version to champion and archives the previous champion", async () => {
        await registerMany(3);
        const first = await models.promote("iris", 1, T0 + 100);
        expect(first).toMatchObject({ version: 1, stage: "champion", stageUpdatedAt: T0 + 100 });
        expect(await models.champion("iris")).toEqual(first);

        const second = await models.promote("iris", 3, T0 + 200);
        expect(second).toMatchObject({ version: 3, stage: "champion", stageUpdatedAt: T0 + 200 });
        expect(await models.champion("iris")).toEqual(second);
        const stages = Object.fromEntries((await models.list("iris")).map((m) => [m.version, [m.stage, m.stageUpdatedAt]]));
        expect(stages).toEqual({ 1: ["archived", T0 + 200], 2: ["candidate", T0 + 2], 3: ["champion", T0 + 200] });
      });

      it("can promote an archived version back, and promoting the champion again changes nothing", async () => {
        await registerMany(2);
        await models.promote("iris", 1, T0 + 100);
        await models.promote("iris", 2, T0 + 200);
        const again = await models.promote("iris", 2, T0 + 300);
        expect(again.stageUpdatedAt).toBe(T0 + 200);
        await models.promote("iris", 1, T0 + 400);
        expect((await models.champion("iris"))?.version).toBe(1);
        expect((await models.get("iris", 2))?.stage).toBe("archived");
      });

      it("keeps champions per name", async () => {
        await registerMany(2, "iris", 0);
        await registerMany(2, "wine", 10);
        await models.promote("iris", 2, T0 + 100);
        await models.promote("wine", 1, T0 + 100);
        expect((await models.champion("iris"))?.version).toBe(2);
        expect((await models.champion("wine"))?.version).toBe(1);
      });

      it("reports an unknown version or name as SLUICE_MODEL_NOT_FOUND and changes nothing", async () => {
        await registerMany(2);
        await models.promote("iris", 1, T0 + 100);
        const err = await models.promote("iris", 5, T0 + 200).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "SLUICE_MODEL_NOT_FOUND", details: { model: "iris", version: 5 } });
        expect((err as Error).message).toContain('model "iris" has no version 5 (it has versions 1–2)');
        await expect(models.promote("nope", 1, T0)).rejects.toMatchObject({ code: "SLUICE_MODEL_NOT_FOUND" });
        expect((await models.champion("iris"))?.version).toBe(1);
        expect(await models.list("nope")).toEqual([]);
      });

      it("leaves exactly one champion after concurrent promotions of different versions", async () => {
        await registerMany(6);
        const second = await open();
        await Promise.all([1, 2, 3, 4, 5, 6].map((v) => (v % 2 === 0 ? models : second).promote("iris", v, T0 + 100 + v)));
        const champions = (await models.list("iris")).filter((m) => m.stage === "champion");
        expect(champions).toHaveLength(1);
        expect(await models.champion("iris")).toEqual(champions[0]);
      });
    });

    describe("deployments", () => {
      beforeEach(async () => {
        await registerMany(3);
      });

      it("sets an endpoint's deployments and lists them by name", async () => {
        const set = await models.setDeployments(
          "iris-api",
          [
            { deployment: "green", model: "iris", version: 3, trafficPercent: 10 },
            { deployment: "blue", model: "iris", version: 2, trafficPercent: 90 },
            { deployment: "shadow", model: "iris", version: 1, trafficPercent: 50, shadow: true },
          ],
          T0 + 500,
        );
        const expected = [
          { endpoint: "iris-api", deployment: "blue", model: "iris", version: 2, trafficPercent: 90, shadow: false, updatedAt: T0 + 500 },
          { endpoint: "iris-api", deployment: "green", model: "iris", version: 3, trafficPercent: 10, shadow: false, updatedAt: T0 + 500 },
          { endpoint: "iris-api", deployment: "shadow", model: "iris", version: 1, trafficPercent: 50, shadow: true, updatedAt: T0 + 500 },
        ];
        expect(set).toEqual(expected);
        expect(await models.listDeployments("iris-api")).toEqual(expected);
      });

      it("replaces all of an endpoint's deployments at once, leaving other endpoints alone", async () => {
        await models.setDeployments("a", [{ deployment: "blue", model: "iris", version: 1, trafficPercent: 100 }], T0);
        await models.setDeployments("b", [{ deployment: "blue", model: "iris", version: 1, trafficPercent: 100 }], T0);
        await models.setDeployments(
          "a",
          [
            { deployment: "green", model: "iris", version: 2, trafficPercent: 50 },
            { deployment: "red", model: "iris", version: 3, trafficPercent: 50 },
          ],
          T0 + 1,
        );
        expect((await models.listDeployments()).map((d) => `${d.endpoint}/${d.deployment}@${d.version}`)).toEqual(["a/green@2", "a/red@3", "b/blue@1"]);
        await models.setDeployments("a", [], T0 + 2);
        expect((await models.listDeployments()).map((d) => `${d.endpoint}/${d.deployment}`)).toEqual(["b/blue"]);
        expect(await models.listDeployments("a")).toEqual([]);
      });

      it("rejects traffic shares that do not sum to 100, naming the field and the shares, and keeps the old state", async () => {
        await models.setDeployments("api", [{ deployment: "blue", model: "iris", version: 1, trafficPercent: 100 }], T0);
        const err = await models
          .setDeployments(
            "api",
            [
              { deployment: "blue", model: "iris", version: 1, trafficPercent: 60 },
              { deployment: "green", model: "iris", version: 2, trafficPercent: 30 },
            ],
            T0 + 1,
          )
          .catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "SLUICE_PARAMS_INVALID", details: { field: "deployments[].trafficPercent" } });
        expect((err as Error).message).toContain("blue 60 + green 30 = 90");
        expect((await models.listDeployments("api")).map((d) => [d.deployment, d.trafficPercent])).toEqual([["blue", 100]]);
      });

      it("rejects a negative, too large or fractional share, naming each deployment's field", async () => {
        const err = await models
          .setDeployments(
            "api",
            [
              { deployment: "a", model: "iris", version: 1, trafficPercent: 120 },
              { deployment: "b", model: "iris", version: 2, trafficPercent: -20 },
              { deployment: "c", model: "iris", version: 3, trafficPercent: 0.5 },
            ],
            T0,
          )
          .catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "SLUICE_PARAMS_INVALID", details: { field: "deployments[0].trafficPercent" } });
        const message = (err as Error).message;
        for (const field of ["deployments[0].trafficPercent", "deployments[1].trafficPercent: must be a whole number from 0 to 100, got -20", "deployments[2].trafficPercent"]) {
          expect(message).toContain(field);
        }
        expect(await models.listDeployments()).toEqual([]);
      });

      it("rejects bad names and duplicate deployments, naming the fields", async () => {
        const err = await models
          .setDeployments(
            "api",
            [
              { deployment: "a", model: "iris", version: 1, trafficPercent: 50 },
              { deployment: "a", model: "bad name", version: 0, trafficPercent: 50 },
            ],
            T0,
          )
          .catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "SLUICE_PARAMS_INVALID" });
        const message = (err as Error).message;
        expect(message).toContain('deployments[1].deployment: "a" is already used by deployments[0]');
        expect(message).toContain("deployments[1].model:");
        expect(message).toContain("deployments[1].version:");
        await expect(models.setDeployments("", [], T0)).rejects.toMatchObject({ code: "SLUICE_PARAMS_INVALID", details: { field: "endpoint" } });
      });

      it("reports unregistered model versions as SLUICE_MODEL_NOT_FOUND, naming each field", async () => {
        const err = await models
          .setDeployments(
            "api",
            [
              { deployment: "a", model: "iris", version: 9, trafficPercent: 50 },
              { deployment: "b", model: "ghost", version: 1, trafficPercent: 40 },
              { deployment: "c", model: "iris", version: 3, trafficPercent: 10 },
            ],
            T0,
          )
          .catch((e: unknown) => e);
        expect(err).toMatchObject({ code: "SLUICE_MODEL_NOT_FOUND", details: { endpoint: "api", field: "deployments[0].version" } });
        const message = (err as Error).message;
        expect(message).toContain('deployments[0].version: model "iris" has no version 9 (it has versions 1–3)');
        expect(message).toContain('deployments[1].model: no model named "ghost" is registered');
        expect(message).not.toContain("deployments[2]");
        expect(await models.listDeployments()).toEqual([]);
      });

      it("leaves shadow deployments out of the traffic sum", async () => {
        const set = await models.setDeployments(
          "api",
          [
            { deployment: "live", model: "iris", version: 2, trafficPercent: 100 },
            { deployment: "mirror", model: "iris", version: 3, trafficPercent: 100, shadow: true },
          ],
          T0,
        );
        expect(set.map((d) => [d.deployment, d.shadow])).toEqual([
          ["live", false],
          ["mirror", true],
        ]);
        const onlyShadows = await models
          .setDeployments("api", [{ deployment: "mirror", model: "iris", version: 3, trafficPercent: 100, shadow: true }], T0 + 1)
          .catch((e: unknown) => e);
        expect(onlyShadows).toMatchObject({ code: "SLUICE_PARAMS_INVALID", details: { field: "deployments[].trafficPercent" } });
        expect((onlyShadows as Error).message).toContain("every deployment is a shadow");
      });
    });

    it("lists the digests of registered models for garbage collection", async () => {
      expect(await models.referencedDigests()).toEqual(new Set());
      await registerMany(2, "iris", 0);
      await models.register(aModel({ name: "wine", digest: modelDigest(1) }));
      await models.setDeployments("api", [{ deployment: "blue", model: "iris", version: 2, trafficPercent: 100 }], T0);
      expect(await models.referencedDigests()).toEqual(new Set([modelDigest(1), modelDigest(2)]));
    });

    it("keeps versions, champions and deployments when the database is opened again", async () => {
      await registerMany(2);
      await models.promote("iris", 2, T0 + 100);
      await models.setDeployments("api", [{ deployment: "blue", model: "iris", version: 2, trafficPercent: 100 }], T0 + 200);
      const before = { list: await models.list(), deployments: await models.listDeployments() };
      const closing = opened.splice(0);
      for (const o of closing) await o.close();
      models = await open();
      expect(await models.list()).toEqual(before.list);
      expect(await models.listDeployments()).toEqual(before.deployments);
      expect((await models.champion("iris"))?.version).toBe(2);
      expect((await models.register(aModel({ digest: modelDigest(3) }))).version).toBe(3);
    });
  });
}
