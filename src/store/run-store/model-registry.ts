/**
 * The model registry over Kysely, on the run store's database (SQLite or PostgreSQL): versioned
 * models with lineage and a champion per name, and each endpoint's desired deployments.
 *
 * Concurrency: every write transaction first upserts the row of the name (`model_names`) or
 * endpoint (`endpoints`) it changes. That first statement is a write, so on SQLite the
 * transaction takes the write lock at once (waiting out the busy timeout, never failing on a
 * stale read snapshot); on PostgreSQL it locks that row, so writers of one name queue up and each
 * one's later statements see what the previous one committed. Versions are then `max + 1`, and
 * at most one champion per name holds without retries.
 */
import type { Kysely, Transaction } from "kysely";
import { storeGuard } from "./guard.ts";
import { SluiceError } from "../../errors.ts";
import { byEndpointThenName, fromDeploymentRow, fromModelRow, newestFirst, toDeploymentRow, toModelRow } from "./registry-rows.ts";
import type { Deployment, DeploymentSpec, ModelRegistry, ModelVersion, NewModelVersion } from "./registry-types.ts";
import { checkDeployments, checkNewModelVersion, checkPromotion, isVersion } from "./registry-validate.ts";
import type { RunStoreSchema } from "./schema.ts";

export type { Deployment, DeploymentSpec, ModelLineage, ModelRegistry, ModelStage, ModelVersion, NewModelVersion } from "./registry-types.ts";

/** Options of `createKyselyModelRegistry`. */
export interface ModelRegistryOptions {
  /**
   * Runs `fn` so that no other write to the same database from this process overlaps it: pass
   * the run store's (SQLite's per-file lock), so both share one write lock. PostgreSQL needs none.
   * @default runs `fn` at once
   */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
}

type Trx = Transaction<RunStoreSchema>;

/** Turns database errors into `SLUICE_STORE_FAILED` that name the operation. */
const guard = storeGuard("model registry", "Check that the database is reachable, writable, not locked by another program, and migrated by this sluice.");

/** "versions 1–3" / "version 1" / "no versions": what a name has, for messages. */
function describeVersions(versions: readonly number[]): string {
  if (versions.length === 0) return "no versions";
  const max = Math.max(...versions);
  return versions.length === 1 ? `only version ${max}` : `versions 1–${max}`;
}

/** The model registry on a Kysely database whose run-store migrations have been applied. */
class KyselyModelRegistry implements ModelRegistry {
  readonly #db: Kysely<RunStoreSchema>;
  readonly #exclusive: <T>(fn: () => Promise<T>) => Promise<T>;

  constructor(db: Kysely<RunStoreSchema>, options: ModelRegistryOptions) {
    this.#db = db;
    this.#exclusive = options.exclusive ?? ((fn) => fn());
  }

  /** A write transaction, serialised with this process's other writers to the same database. */
  #write<T>(op: string, fn: (trx: Trx) => Promise<T>): Promise<T> {
    return guard(op, () => this.#exclusive(() => this.#db.transaction().execute(fn)));
  }

  /** Locks a model name's row for the rest of the transaction (see the module comment). */
  async #lockName(trx: Trx, name: string): Promise<void> {
    await trx
      .insertInto("model_names")
      .values({ name })
      .onConflict((oc) => oc.column("name").doUpdateSet({ name }))
      .execute();
  }

  async #versionsOf(db: Kysely<RunStoreSchema>, name: string): Promise<number[]> {
    const rows = await db.selectFrom("models").select("version").where("name", "=", name).execute();
    return rows.map((r) => Number(r.version));
  }

  async register(m: NewModelVersion): Promise<ModelVersion> {
    checkNewModelVersion(m);
    return await this.#write("register", async (trx) => {
      await this.#lockName(trx, m.name);
      const existing = await trx.selectFrom("models").selectAll().where("name", "=", m.name).where("digest", "=", m.digest).executeTakeFirst();
      if (existing !== undefined) return fromModelRow(existing);
      const { latest } = await trx
        .selectFrom("models")
        .select((eb) => eb.fn.max("version").as("latest"))
        .where("name", "=", m.name)
        .executeTakeFirstOrThrow();
      const row = toModelRow(m, latest === null ? 1 : Number(latest) + 1);
      await trx.insertInto("models").values(row).execute();
      return fromModelRow(row);
    });
  }

  get(name: string, version?: number): Promise<ModelVersion | undefined> {
    if (version !== undefined && !isVersion(version)) return Promise.resolve(undefined);
    return guard("get", async () => {
      let query = this.#db.selectFrom("models").selectAll().where("name", "=", name);
      query = version === undefined ? query.orderBy("version", "desc").limit(1) : query.where("version", "=", version);
      const row = await query.executeTakeFirst();
      return row === undefined ? undefined : fromModelRow(row);
    });
  }

  list(name?: string): Promise<ModelVersion[]> {
    return guard("list", async () => {
      let query = this.#db.selectFrom("models").selectAll();
      if (name !== undefined) query = query.where("name", "=", name);
      return (await query.execute()).map(fromModelRow).sort(newestFirst);
    });
  }

  champion(name: string): Promise<ModelVersion | undefined> {
    return guard("champion", async () => {
      const row = await this.#db.selectFrom("models").selectAll().where("name", "=", name).where("stage", "=", "champion").executeTakeFirst();
      return row === undefined ? undefined : fromModelRow(row);
    });
  }

  async promote(name: string, version: number, at: number): Promise<ModelVersion> {
    checkPromotion(name, version, at);
    return await this.#write("promote", async (trx) => {
      await this.#lockName(trx, name);
      const target = await trx.selectFrom("models").selectAll().where("name", "=", name).where("version", "=", version).executeTakeFirst();
      if (target === undefined) {
        const versions = await this.#versionsOf(trx, name);
        const fix = versions.length === 0 ? "Register it first." : "Promote one of those, or register the new version first.";
        throw new SluiceError(
          "SLUICE_MODEL_NOT_FOUND",
          `model registry › promote: model "${name}" has no version ${version} (it has ${describeVersions(versions)}). ${fix}`,
          { model: name, version, field: "version" },
        );
      }
      if (target.stage === "champion") return fromModelRow(target);
      await trx
        .updateTable("models")
        .set({ stage: "archived", stage_updated_at: at })
        .where("name", "=", name)
        .where("stage", "=", "champion")
        .execute();
      await trx
        .updateTable("models")
        .set({ stage: "champion", stage_updated_at: at })
        .where("name", "=", name)
        .where("version", "=", version)
        .execute();
      return { ...fromModelRow(target), stage: "champion", stageUpdatedAt: at };
    });
  }

  async setDeployments(endpoint: string, deployments: readonly DeploymentSpec[], at: number): Promise<Deployment[]> {
    checkDeployments(endpoint, deployments, at);
    return await this.#write("setDeployments", async (trx) => {
      // Lock the endpoint's row: concurrent replacements of one endpoint apply one after the other.
      await trx
        .insertInto("endpoints")
        .values({ name: endpoint, updated_at: at })
        .onConflict((oc) => oc.column("name").doUpdateSet({ updated_at: at }))
        .execute();
      await this.#checkReferences(trx, endpoint, deployments);
      await trx.deleteFrom("deployments").where("endpoint", "=", endpoint).execute();
      const rows = deployments.map((d) => toDeploymentRow(endpoint, d, at));
      if (rows.length > 0) await trx.insertInto("deployments").values(rows).execute();
      return rows.map(fromDeploymentRow).sort(byEndpointThenName);
    });
  }

  /** Throws `SLUICE_MODEL_NOT_FOUND` naming every deployment whose model version is not registered. */
  async #checkReferences(trx: Trx, endpoint: string, deployments: readonly DeploymentSpec[]): Promise<void> {
    const names = [...new Set(deployments.map((d) => d.model))];
    if (names.length === 0) return;
    const rows = await trx.selectFrom("models").select(["name", "version"]).where("name", "in", names).execute();
    const versions = new Map<string, number[]>(names.map((n) => [n, []]));
    for (const r of rows) versions.get(r.name)!.push(Number(r.version));
    const missing: Array<{ field: string; model: string; version: number; message: string }> = [];
    deployments.forEach((d, i) => {
      const known = versions.get(d.model)!;
      if (known.includes(d.version)) return;
      const field = known.length === 0 ? `deployments[${i}].model` : `deployments[${i}].version`;
      const what = known.length === 0 ? `no model named "${d.model}" is registered` : `model "${d.model}" has no version ${d.version} (it has ${describeVersions(known)})`;
      missing.push({ field, model: d.model, version: d.version, message: what });
    });
    if (missing.length === 0) return;
    throw new SluiceError(
      "SLUICE_MODEL_NOT_FOUND",
      `model registry › setDeployments › endpoint "${endpoint}": ${missing.map((m) => `${m.field}: ${m.message}`).join("; ")}. ` +
        "Register the model version first, or deploy a registered one.",
      { endpoint, field: missing[0]!.field, missing },
    );
  }

  listDeployments(endpoint?: string): Promise<Deployment[]> {
    return guard("listDeployments", async () => {
      let query = this.#db.selectFrom("deployments").selectAll();
      if (endpoint !== undefined) query = query.where("endpoint", "=", endpoint);
      return (await query.execute()).map(fromDeploymentRow).sort(byEndpointThenName);
    });
  }

  referencedDigests(): Promise<Set<string>> {
    return guard("referencedDigests", async () => {
      // Registered versions are never deleted and deployments may only name registered ones, so
      // the digests of all versions cover every deployment too.
      const rows = await this.#db.selectFrom("models").select("digest").distinct().execute();
      return new Set(rows.map((r) => r.digest));
    });
  }
}

/**
 * A model registry on a Kysely database sluice supports (SQLite, PostgreSQL) whose run-store
 * migrations are applied (`createKyselyRunStore` or `migrateRunStore` does that). It does not own
 * `db`: close it through the run store. On SQLite pass the run store's `exclusive`, or use
 * `createSqliteStores`, which wires both.
 */
export function createKyselyModelRegistry(db: Kysely<RunStoreSchema>, options: ModelRegistryOptions = {}): ModelRegistry {
  return new KyselyModelRegistry(db, options);
}
