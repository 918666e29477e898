import { Type, type Static } from "@sinclair/typebox";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SluiceError } from "../errors.ts";
import { validateParams } from "../define/params.ts";
import { TsImporter } from "../util/ts-import.ts";
import { LOG_LEVELS, type LogLevelName } from "../log.ts";

/** What `sluice.config.ts` may export (default export). Every key is optional. */
export const ConfigFileSchema = Type.Object({
  /** Cache folder (CAS, action cache, run records). @default "<workspace>/cache" */
  cacheDir: Type.Optional(Type.String({ minLength: 1 })),
  /** Most steps running at once. @default 4 × cores */
  concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
  /** Threads of the Piscina pool. @default cores */
  threads: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024 })),
  /** PostgreSQL URL for shared run records. */
  databaseUrl: Type.Optional(Type.String({ minLength: 1 })),
  /** Redis URL for remote executors. */
  redisUrl: Type.Optional(Type.String({ minLength: 1 })),
  /** Key prefix of the BullMQ queues of remote steps (queue `gpu` lives under `<prefix>:gpu:*`). @default "sluice" */
  redisPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_.-]+$" })),
  /** How long Redis may stay unreachable before the remote steps of a run fail. @default 15000 */
  redisTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 86_400_000 })),
  /** Shared cache server speaking the Turborepo remote cache API (`/v8/artifacts`), e.g. "http://cache:3000". */
  remoteCacheUrl: Type.Optional(Type.String({ minLength: 1, pattern: "^https?://" })),
  /** Bearer token of the cache server. */
  remoteCacheToken: Type.Optional(Type.String({ minLength: 1 })),
  /** Team (namespace) on the cache server. @default "sluice" */
  remoteCacheTeam: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  /** HMAC key shared by every machine trusted to write the cache; required with remoteCacheUrl. */
  remoteCacheSigningKey: Type.Optional(Type.String({ minLength: 16 })),
  /** Read from the shared cache but never write to it (untrusted runs, read-only tokens). @default false */
  remoteCacheReadOnly: Type.Optional(Type.Boolean()),
  /** Port of `sluice serve`. @default 7070 */
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  /** Runs per pipeline whose outputs `cache prune` keeps. @default 5 */
  keepRuns: Type.Optional(Type.Integer({ minimum: 0 })),
  /**
   * How command steps are kept apart: `uid` runs each attempt as a fresh unprivileged user that can
   * write only its own folder (needs root); `none` runs them as you. @default "uid" as root, else "none"
   */
  commandIsolation: Type.Optional(Type.Union([Type.Literal("uid"), Type.Literal("none")])),
  /** Level of sluice's own diagnostic log (JSON lines on stderr). @default "warn" */
  logLevel: Type.Optional(Type.Union(LOG_LEVELS.map((l) => Type.Literal(l)))),
});

/** The config file's shape. */
export type ConfigFile = Static<typeof ConfigFileSchema>;

/** Settings after file, environment and flags are merged and checked. Frozen. */
export interface ResolvedConfig {
  readonly root: string;
  readonly cacheDir: string;
  readonly concurrency: number;
  readonly threads: number;
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly redisPrefix: string;
  readonly redisTimeoutMs: number;
  /** Shared cache server, when one is configured (`remoteCacheUrl` and friends). */
  readonly remoteCache: { readonly url: string; readonly token: string | undefined; readonly team: string; readonly signingKey: string; readonly readOnly: boolean } | undefined;
  readonly port: number;
  readonly keepRuns: number;
  readonly logLevel: LogLevelName;
  readonly commandIsolation: "uid" | "none";
  /** The environment a run sees; steps read their declared variables from here. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Overrides from the command line (highest precedence). */
export type ConfigFlags = Partial<Pick<ResolvedConfig, "cacheDir" | "concurrency" | "threads" | "port">>;

const ENV_MAP: ReadonlyArray<[string, keyof ConfigFile, "string" | "integer" | "boolean"]> = [
  ["SLUICE_CACHE_DIR", "cacheDir", "string"],
  ["SLUICE_CONCURRENCY", "concurrency", "integer"],
  ["SLUICE_THREADS", "threads", "integer"],
  ["SLUICE_DATABASE_URL", "databaseUrl", "string"],
  ["SLUICE_REDIS_URL", "redisUrl", "string"],
  ["SLUICE_REDIS_PREFIX", "redisPrefix", "string"],
  ["SLUICE_REDIS_TIMEOUT_MS", "redisTimeoutMs", "integer"],
  ["SLUICE_REMOTE_CACHE_URL", "remoteCacheUrl", "string"],
  ["SLUICE_REMOTE_CACHE_TOKEN", "remoteCacheToken", "string"],
  ["SLUICE_REMOTE_CACHE_TEAM", "remoteCacheTeam", "string"],
  ["SLUICE_REMOTE_CACHE_SIGNING_KEY", "remoteCacheSigningKey", "string"],
  ["SLUICE_REMOTE_CACHE_READ_ONLY", "remoteCacheReadOnly", "boolean"],
  ["SLUICE_PORT", "port", "integer"],
  ["SLUICE_LOG_LEVEL", "logLevel", "string"],
  ["SLUICE_COMMAND_ISOLATION", "commandIsolation", "string"],
];

async function readConfigFile(root: string): Promise<{ file: string | undefined; value: Record<string, unknown> }> {
  const file = ["sluice.config.ts", "sluice.config.js", "sluice.config.mjs"].map((f) => path.join(root, f)).find((f) => fs.existsSync(f));
  if (!file) return { file: undefined, value: {} };
  let mod: { default?: unknown };
  try {
    mod = (await new TsImporter(root).import(file)) as { default?: unknown };
  } catch (err) {
    const msg = ((err as Error)?.message ?? String(err)).split("\n")[0];
    throw new SluiceError("SLUICE_CONFIG_INVALID", `${file} could not be loaded: ${msg}. Fix the file (it must \`export default { ... }\`) or remove it.`, { source: file }, { cause: err });
  }
  if (typeof mod.default !== "object" || mod.default === null || Array.isArray(mod.default)) {
    throw new SluiceError("SLUICE_CONFIG_INVALID", `${file}: the default export must be an object like \`export default { concurrency: 4 }\`, got ${mod.default === undefined ? "no default export" : typeof mod.default}.`, { source: file });
  }
  return { file, value: mod.default as Record<string, unknown> };
}

/**
 * Resolves the configuration once: defaults, then `sluice.config.ts`, then `SLUICE_*` variables,
 * then flags. Every bad value is reported with its source. The only reader of `process.env`.
 */
export async function loadConfig(opts: { root?: string; flags?: ConfigFlags; env?: Readonly<Record<string, string | undefined>> } = {}): Promise<ResolvedConfig> {
  const env = opts.env ?? process.env;
  const root = path.resolve(opts.root ?? process.cwd());
  const { file, value: fromFile } = await readConfigFile(root);
  const fileCheck = validateParams(ConfigFileSchema, fromFile);
  if (!fileCheck.ok) {
    const lines = fileCheck.issues.map((i) => `  - ${i.path || "(config)"} ${i.message}${i.value === undefined ? "" : ` (got ${JSON.stringify(i.value)})`}`);
    throw new SluiceError("SLUICE_CONFIG_INVALID", `${file}: invalid settings:\n${lines.join("\n")}\nFix: allowed keys are ${Object.keys(ConfigFileSchema.properties).join(", ")}.`, { source: file, field: fileCheck.issues[0]?.path });
  }
  const merged: Record<string, unknown> = { ...fileCheck.value };
  for (const [name, key, type] of ENV_MAP) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    if (type === "integer") {
      const n = Number(raw);
      if (!Number.isInteger(n)) throw new SluiceError("SLUICE_CONFIG_INVALID", `environment variable ${name}=${JSON.stringify(raw)} is not a whole number. Fix: set it to an integer or unset it.`, { source: name, field: key, value: raw });
      merged[key] = n;
    } else if (type === "boolean") {
      if (!/^(1|0|true|false)$/i.test(raw)) throw new SluiceError("SLUICE_CONFIG_INVALID", `environment variable ${name}=${JSON.stringify(raw)} is not a yes/no value. Fix: set it to 1 or 0 (true or false), or unset it.`, { source: name, field: key, value: raw });
      merged[key] = /^(1|true)$/i.test(raw);
    } else merged[key] = raw;
  }
  const envCheck = validateParams(ConfigFileSchema, merged);
  if (!envCheck.ok) {
    const i = envCheck.issues[0]!;
    const source = ENV_MAP.find(([, k]) => k === i.path)?.[0] ?? file ?? "config";
    throw new SluiceError("SLUICE_CONFIG_INVALID", `${source}: ${i.path} ${i.message} (got ${JSON.stringify(i.value)}).`, { source, field: i.path, value: i.value });
  }
  const flags = opts.flags ?? {};
  const cores = os.availableParallelism();
  const c = envCheck.value as ConfigFile;
  const cacheDir = flags.cacheDir ?? c.cacheDir;
  if (c.remoteCacheUrl && !c.remoteCacheSigningKey) {
    const source = env.SLUICE_REMOTE_CACHE_URL ? "SLUICE_REMOTE_CACHE_URL" : (file ?? "config");
    throw new SluiceError("SLUICE_CONFIG_INVALID", `${source}: a shared cache needs a signing key, so that no server or untrusted writer can plant results. Fix: set SLUICE_REMOTE_CACHE_SIGNING_KEY to the same secret (16+ characters) on every machine, or unset the URL.`, { source, field: "remoteCacheSigningKey" });
  }
  const isRoot = process.getuid?.() === 0;
  if (c.commandIsolation === "uid" && !isRoot) {
    const source = env.SLUICE_COMMAND_ISOLATION ? "SLUICE_COMMAND_ISOLATION" : (file ?? "config");
    throw new SluiceError("SLUICE_CONFIG_INVALID", `${source}: commandIsolation "uid" needs root (switching user ids is a root privilege). Fix: run sluice as root (e.g. in its container) or set it to "none".`, { source, field: "commandIsolation", value: "uid" });
  }
  return Object.freeze({
    root,
    cacheDir: cacheDir ? path.resolve(root, cacheDir) : path.join(root, "cache"),
    concurrency: flags.concurrency ?? c.concurrency ?? cores * 4,
    threads: flags.threads ?? c.threads ?? cores,
    databaseUrl: c.databaseUrl,
    redisUrl: c.redisUrl,
    redisPrefix: c.redisPrefix ?? "sluice",
    redisTimeoutMs: c.redisTimeoutMs ?? 15_000,
    remoteCache: c.remoteCacheUrl
      ? Object.freeze({ url: c.remoteCacheUrl, token: c.remoteCacheToken, team: c.remoteCacheTeam ?? "sluice", signingKey: c.remoteCacheSigningKey!, readOnly: c.remoteCacheReadOnly ?? false })
      : undefined,
    port: flags.port ?? c.port ?? 7070,
    keepRuns: c.keepRuns ?? 5,
    logLevel: c.logLevel ?? "warn",
    commandIsolation: c.commandIsolation ?? (isRoot ? "uid" : "none"),
    env: Object.freeze({ ...env }),
  });
}
