/**
 * What `sluice serve` keeps beside the run records (migration `0003_service`): bearer tokens
 * (only their sha256 is stored), the audit log, and idempotency keys of triggered runs. One
 * implementation over Kysely for SQLite and PostgreSQL, like the run store.
 */
import type { ColumnType, Generated, Kysely, Transaction } from "kysely";
import { SluiceError } from "../../errors.ts";
import { storeGuard } from "./guard.ts";
import type { IntColumn, NullableIntColumn } from "./schema.ts";

/** A live or revoked token, without its secret. */
export interface TokenRecord {
  name: string;
  /** `viewer`, `operator` or `admin` (the server checks the value). */
  role: string;
  createdAt: number;
  revokedAt: number | null;
}

/** One stored audit entry. */
export interface AuditRecord {
  /** Append order, increasing. */
  seq: number;
  ts: number;
  actor: string;
  action: string;
  target: string;
  result: string;
  details: Record<string, unknown>;
}

/** What `claimIdempotencyKey` found: the key is now ours, or it was already used (for that run, or one still starting). */
export type IdempotencyClaim = { readonly claimed: true } | { readonly claimed: false; readonly runId: string | null; readonly claimedAt: number };

/** Tokens, audit log and idempotency keys. Every method throws `SluiceError`. */
export interface ServiceStore {
  /** Stores a new token by hash. A live token of the same name → `SLUICE_TOKEN_EXISTS`. */
  createToken(t: { name: string; role: string; hash: string; createdAt: number }): Promise<TokenRecord>;
  /** The live (not revoked) token with this hash, or `undefined`. */
  findToken(hash: string): Promise<TokenRecord | undefined>;
  /** Every token, live and revoked, by creation time then name. */
  listTokens(): Promise<TokenRecord[]>;
  /** Revokes the live token of that name; none → `SLUICE_TOKEN_NOT_FOUND`. */
  revokeToken(name: string, at: number): Promise<TokenRecord>;
  /** Appends one audit entry. */
  appendAudit(e: Omit<AuditRecord, "seq">): Promise<void>;
  /** Newest first; `limit` defaults to 100; `beforeSeq` pages back. */
  listAudit(q?: { limit?: number; beforeSeq?: number }): Promise<AuditRecord[]>;
  /** Claims (actor, key) for a new run, atomically; a second claim sees the first's run id. */
  claimIdempotencyKey(actor: string, key: string, at: number): Promise<IdempotencyClaim>;
  /** Records the run started under a claimed key. */
  setIdempotencyRun(actor: string, key: string, runId: string): Promise<void>;
  /** Gives up a claim whose run never started (its request was invalid). */
  releaseIdempotencyKey(actor: string, key: string): Promise<void>;
  /**
   * Takes over a claim made at `claimedAt` whose run never got an id (its server died while
   * starting it), atomically: true for exactly one of several servers trying at once.
   */
  takeOverIdempotencyKey(actor: string, key: string, claimedAt: number, at: number): Promise<boolean>;
  /** Resolves when the database answers (readiness). */
  ping(): Promise<void>;
}

interface TokensTable {
  hash: string;
  name: string;
  role: string;
  created_at: IntColumn;
  revoked_at: NullableIntColumn;
}

interface AuditLogTable {
  /** Read back with `Number()`: PostgreSQL returns bigint as a string. */
  seq: Generated<number>;
  ts: IntColumn;
  actor: string;
  action: string;
  target: string;
  result: string;
  details: string;
}

interface IdempotencyKeysTable {
  actor: string;
  key: string;
  run_id: ColumnType<string | null, string | null, string | null>;
  created_at: IntColumn;
}

/** The tables of migration `0003_service`. */
export interface ServiceSchema {
  tokens: TokensTable;
  audit_log: AuditLogTable;
  idempotency_keys: IdempotencyKeysTable;
}

/** Options of `createKyselyServiceStore`. */
export interface ServiceStoreOptions {
  /** The database's in-process write lock (SQLite); see `KyselyRunStoreOptions.exclusive`. @default none */
  exclusive?: <T>(fn: () => Promise<T>) => Promise<T>;
}

const guard = storeGuard("service store", "Check that the database is reachable, writable and migrated by this sluice.");

const DEFAULT_AUDIT_LIMIT = 100;

function fromTokenRow(r: { name: string; role: string; created_at: unknown; revoked_at: unknown }): TokenRecord {
  return { name: r.name, role: r.role, createdAt: Number(r.created_at), revokedAt: r.revoked_at === null ? null : Number(r.revoked_at) };
}

/**
 * The service store on a Kysely database whose run-store migrations have been applied (the
 * database of `createSqliteStores` / `createPostgresStores`).
 */
export function createKyselyServiceStore(database: Kysely<any>, opts: ServiceStoreOptions = {}): ServiceStore {
  const db = database as Kysely<ServiceSchema>;
  const exclusive = opts.exclusive ?? (<T>(fn: () => Promise<T>) => fn());
  const write = <T>(op: string, fn: (trx: Transaction<ServiceSchema>) => Promise<T>): Promise<T> => guard(op, () => exclusive(() => db.transaction().execute(fn)));
  return {
    createToken: (t) =>
      write("createToken", async (trx) => {
        const live = await trx.selectFrom("tokens").select("name").where("name", "=", t.name).where("revoked_at", "is", null).executeTakeFirst();
        if (live) throw new SluiceError("SLUICE_TOKEN_EXISTS", `token "${t.name}" already exists. Revoke it first (\`sluice token revoke ${t.name}\`) or pick another name.`, { field: "name", value: t.name });
        await trx.insertInto("tokens").values({ hash: t.hash, name: t.name, role: t.role, created_at: t.createdAt, revoked_at: null }).execute();
        return { name: t.name, role: t.role, createdAt: t.createdAt, revokedAt: null };
      }),
    findToken: (hash) =>
      guard("findToken", async () => {
        const row = await db.selectFrom("tokens").selectAll().where("hash", "=", hash).where("revoked_at", "is", null).executeTakeFirst();
        return row && fromTokenRow(row);
      }),
    listTokens: () => guard("listTokens", async () => (await db.selectFrom("tokens").selectAll().orderBy("created_at").orderBy("name").execute()).map(fromTokenRow)),
    revokeToken: (name, at) =>
      write("revokeToken", async (trx) => {
        const row = await trx.selectFrom("tokens").selectAll().where("name", "=", name).where("revoked_at", "is", null).executeTakeFirst();
        if (!row) throw new SluiceError("SLUICE_TOKEN_NOT_FOUND", `no live token named "${name}". List tokens with \`sluice token list\`.`, { field: "name", value: name });
        await trx.updateTable("tokens").set({ revoked_at: at }).where("hash", "=", row.hash).execute();
        return { ...fromTokenRow(row), revokedAt: at };
      }),
    appendAudit: (e) =>
      write("appendAudit", async (trx) => {
        await trx.insertInto("audit_log").values({ ts: e.ts, actor: e.actor, action: e.action, target: e.target, result: e.result, details: JSON.stringify(e.details) }).execute();
      }),
    listAudit: (q = {}) =>
      guard("listAudit", async () => {
        let query = db.selectFrom("audit_log").selectAll().orderBy("seq", "desc").limit(q.limit ?? DEFAULT_AUDIT_LIMIT);
        if (q.beforeSeq !== undefined) query = query.where("seq", "<", q.beforeSeq);
        return (await query.execute()).map((r) => ({ seq: Number(r.seq), ts: Number(r.ts), actor: r.actor, action: r.action, target: r.target, result: r.result, details: JSON.parse(r.details) as Record<string, unknown> }));
      }),
    claimIdempotencyKey: (actor, key, at) =>
      write("claimIdempotencyKey", async (trx) => {
        const res = await trx.insertInto("idempotency_keys").values({ actor, key, run_id: null, created_at: at }).onConflict((oc) => oc.columns(["actor", "key"]).doNothing()).executeTakeFirst();
        if (Number(res.numInsertedOrUpdatedRows ?? 0) > 0) return { claimed: true } as const;
        const row = await trx.selectFrom("idempotency_keys").select(["run_id", "created_at"]).where("actor", "=", actor).where("key", "=", key).executeTakeFirst();
        return { claimed: false, runId: row?.run_id ?? null, claimedAt: Number(row?.created_at ?? at) } as const;
      }),
    setIdempotencyRun: (actor, key, runId) =>
      write("setIdempotencyRun", async (trx) => {
        await trx.updateTable("idempotency_keys").set({ run_id: runId }).where("actor", "=", actor).where("key", "=", key).execute();
      }),
    releaseIdempotencyKey: (actor, key) =>
      write("releaseIdempotencyKey", async (trx) => {
        await trx.deleteFrom("idempotency_keys").where("actor", "=", actor).where("key", "=", key).where("run_id", "is", null).execute();
      }),
    takeOverIdempotencyKey: (actor, key, claimedAt, at) =>
      write("takeOverIdempotencyKey", async (trx) => {
        const res = await trx.updateTable("idempotency_keys").set({ created_at: at }).where("actor", "=", actor).where("key", "=", key).where("run_id", "is", null).where("created_at", "=", claimedAt).executeTakeFirst();
        return Number(res.numUpdatedRows) === 1;
      }),
    ping: () =>
      guard("ping", async () => {
        await db.selectFrom("tokens").select("name").limit(1).execute();
      }),
  };
}
