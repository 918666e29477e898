import { createHmac, timingSafeEqual } from "node:crypto";
import type { CacheKey } from "../../hash/cache-key.ts";
import { canonicalJson, isDigest } from "../../util/canonical-json.ts";
import type { ActionEntry } from "../action-cache.ts";

/** Format tag of a shared action-cache entry; part of what is signed, so an entry of another format never verifies. */
const FORMAT = "sluice-ac-v1";

function mac(signingKey: string, key: CacheKey, payload: string): Buffer {
  return createHmac("sha256", signingKey).update(`${FORMAT}\n${key}\n`).update(payload).digest();
}

/**
 * The bytes of an action-cache entry on a shared cache server: the entry's canonical JSON and an
 * HMAC-SHA256 of it, bound to its cache key, under the key every trusted writer shares.
 */
export function signEntry(entry: ActionEntry, signingKey: string): Buffer {
  const payload = canonicalJson(entry);
  return Buffer.from(JSON.stringify({ format: FORMAT, entry: payload, hmac: mac(signingKey, entry.key, payload).toString("hex") }), "utf8");
}

/** Why `openEntry` refused an entry. */
export type OpenFailure = "malformed" | "bad-signature" | "wrong-key";

/**
 * Checks a shared entry read under `key`: well-formed, signed with `signingKey`, for this very key,
 * and naming only well-formed digests. Anything else is refused (the step reruns), never trusted.
 */
export function openEntry(bytes: Uint8Array, key: CacheKey, signingKey: string): { ok: true; entry: ActionEntry } | { ok: false; why: OpenFailure } {
  let outer: { format?: unknown; entry?: unknown; hmac?: unknown };
  try {
    outer = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
  } catch {
    return { ok: false, why: "malformed" };
  }
  if (typeof outer !== "object" || outer === null || outer.format !== FORMAT || typeof outer.entry !== "string" || typeof outer.hmac !== "string" || !/^[0-9a-f]{64}$/.test(outer.hmac)) {
    return { ok: false, why: "malformed" };
  }
  const want = mac(signingKey, key, outer.entry);
  if (!timingSafeEqual(want, Buffer.from(outer.hmac, "hex"))) return { ok: false, why: "bad-signature" };
  let entry: ActionEntry;
  try {
    entry = JSON.parse(outer.entry) as ActionEntry;
  } catch {
    return { ok: false, why: "malformed" };
  }
  if (entry.key !== key) return { ok: false, why: "wrong-key" };
  if (typeof entry.outputs !== "object" || entry.outputs === null || !Object.values(entry.outputs).every(isDigest) || typeof entry.createdAt !== "number") {
    return { ok: false, why: "malformed" };
  }
  return { ok: true, entry };
}
