import { configure } from "safe-stable-stringify";
import { createHash } from "node:crypto";

const stringify = configure({ deterministic: true, bigint: true, circularValue: Error });

/**
 * Canonical JSON: object keys sorted, `undefined` members dropped, no whitespace.
 * Two values that mean the same record always give the same string; this is what cache keys hash.
 */
export function canonicalJson(value: unknown): string {
  const out = stringify(value);
  // A top-level `undefined` (or function) has no JSON form; it hashes as `null`.
  return out === undefined ? "null" : out;
}

/** Branded `sha256:<hex>` digest of an artifact's canonical bytes. */
export type Digest = string & { readonly __brand: "Digest" };

const PREFIX = "sha256:";

/** sha256 of bytes or a UTF-8 string, as a `sha256:<hex>` digest. */
export function sha256(data: string | Uint8Array): Digest {
  return (PREFIX + createHash("sha256").update(data).digest("hex")) as Digest;
}

/** The digest of a value's canonical JSON. */
export function digestJson(value: unknown): Digest {
  return sha256(canonicalJson(value));
}

/** True when `s` is a well-formed `sha256:<64 hex>` digest. */
export function isDigest(s: unknown): s is Digest {
  return typeof s === "string" && s.length === 71 && s.startsWith(PREFIX) && /^[0-9a-f]{64}$/.test(s.slice(7));
}

/** The hex part of a digest. */
export function digestHex(d: Digest): string {
  return d.slice(PREFIX.length);
}
