import { canonicalJson, sha256, type Digest } from "../util/canonical-json.ts";

/** Bumped when the key record's shape or meaning changes: every old entry becomes a miss. */
export const CACHE_FORMAT = 2;

/** Branded cache key (a digest of a `KeyRecord`). */
export type CacheKey = Digest & { readonly __key: true };

/**
 * Everything that determines a step's outputs. Stored beside each action-cache entry as its
 * manifest, so `explain` can say which component changed.
 */
export interface KeyRecord {
  readonly format: number;
  /** The step's declared name (not the instance id: two identical instances share results). */
  readonly step: string;
  /** Digest of the code manifest (entry module, local imports, package versions). */
  readonly code: Digest;
  readonly version: string | null;
  readonly params: Readonly<Record<string, unknown>>;
  /** Input port → artifact digest. */
  readonly inputs: Readonly<Record<string, Digest>>;
  /** Declared env var → sha256 of its value (values are never stored), or null when unset. */
  readonly env: Readonly<Record<string, Digest | null>>;
}

/** Builds the key record of a step instance once its inputs are digested. */
export function keyRecord(parts: {
  step: string;
  code: Digest;
  version: string | undefined;
  params: Readonly<Record<string, unknown>>;
  inputs: Readonly<Record<string, Digest>>;
  env: readonly string[];
  envValues: Readonly<Record<string, string | undefined>>;
}): KeyRecord {
  const env: Record<string, Digest | null> = {};
  for (const name of parts.env) {
    const v = parts.envValues[name];
    env[name] = v === undefined ? null : sha256(v);
  }
  return { format: CACHE_FORMAT, step: parts.step, code: parts.code, version: parts.version ?? null, params: parts.params, inputs: parts.inputs, env };
}

/** The canonical JSON of a key record (what its key hashes), written in sorted key order around the two fields that differ per step instance. */
export function keyRecordJson(record: KeyRecord): string {
  const p = keyRecordJsonParts(record);
  return p.head + canonicalJson(record.inputs) + p.middle + canonicalJson(record.params) + p.tail;
}

/** A key record's canonical JSON without its inputs and params: `head + inputs + middle + params + tail`. */
export interface KeyRecordJsonParts {
  readonly head: string;
  readonly middle: string;
  readonly tail: string;
}

/** The parts of `keyRecordJson(record)` around its inputs and params (sorted keys put them next to each other). */
export function keyRecordJsonParts(record: KeyRecord): KeyRecordJsonParts {
  const r = record;
  return {
    head: `{"code":${JSON.stringify(r.code)},"env":${canonicalJson(r.env)},"format":${r.format},"inputs":`,
    middle: `,"params":`,
    tail: `,"step":${JSON.stringify(r.step)},"version":${r.version === null ? "null" : JSON.stringify(r.version)}}`,
  };
}

/** The cache key: sha256 over the canonical JSON of the record. */
export function cacheKeyOf(record: KeyRecord): CacheKey {
  return sha256(keyRecordJson(record)) as CacheKey;
}
