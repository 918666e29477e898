import { hash } from "node:crypto";

/**
 * Fast path for an object of strings, safe integers and booleans (a step's params, its input
 * digests): no recursion and no cycle bookkeeping. Undefined for anything else.
 */
function flatObject(v: Record<string, unknown>, sortedKeys: readonly string[]): string | undefined {
  let out = "{";
  for (let i = 0; i < sortedKeys.length; i++) {
    const k = sortedKeys[i]!;
    const x = v[k];
    let c: string;
    if (typeof x === "string") c = JSON.stringify(x);
    else if (typeof x === "number" && Number.isSafeInteger(x)) c = x === 0 ? "0" : String(x);
    else if (typeof x === "boolean") c = x ? "true" : "false";
    else return undefined;
    out += (i === 0 ? "" : ",") + JSON.stringify(k) + ":" + c;
  }
  return out + "}";
}

function canon(v: unknown, stack: unknown[]): string | undefined {
  switch (typeof v) {
    case "string":
      return JSON.stringify(v);
    case "number":
      return Number.isFinite(v) ? String(v === 0 ? 0 : v) : "null";
    case "boolean":
      return v ? "true" : "false";
    case "bigint":
      return v.toString();
    case "object": {
      if (v === null) return "null";
      if (stack.includes(v)) throw new TypeError("canonicalJson: the value is circular");
      const withJson = v as { toJSON?: () => unknown };
      if (typeof withJson.toJSON === "function") return canon(withJson.toJSON(), stack);
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return canon(Array.from(v as unknown as ArrayLike<unknown>), stack);
      if (Array.isArray(v)) {
        // Fast path: flat arrays of numbers and strings are what data steps pass around.
        if (v.every((x) => (typeof x === "number" && Number.isFinite(x) && !Object.is(x, -0)) || typeof x === "string")) return JSON.stringify(v);
        stack.push(v);
        const out = `[${v.map((x) => canon(x, stack) ?? "null").join(",")}]`;
        stack.pop();
        return out;
      }
      const keys = Object.keys(v);
      if (keys.length === 0) return "{}";
      if (keys.length > 1) keys.sort();
      const flat = flatObject(v as Record<string, unknown>, keys);
      if (flat !== undefined) return flat;
      stack.push(v);
      // Concatenation, not parts + join: cache keys canonicalise three small objects per step.
      let out = "";
      for (const k of keys) {
        const c = canon((v as Record<string, unknown>)[k], stack);
        if (c !== undefined) out += (out === "" ? "" : ",") + JSON.stringify(k) + ":" + c;
      }
      stack.pop();
      return "{" + out + "}";
    }
    default:
      return undefined; // undefined, functions and symbols have no JSON form
  }
}

/**
 * Canonical JSON: object keys sorted, `undefined` members dropped, no whitespace, non-finite
 * numbers as null, typed arrays as arrays. Two values that mean the same record always give the
 * same string; this is what cache keys hash.
 */
export function canonicalJson(value: unknown): string {
  // A top-level `undefined` (or function) has no JSON form; it hashes as `null`.
  return canon(value, []) ?? "null";
}

/** Branded `sha256:<hex>` digest of an artifact's canonical bytes. */
export type Digest = string & { readonly __brand: "Digest" };

const PREFIX = "sha256:";

/** sha256 of bytes or a UTF-8 string, as a `sha256:<hex>` digest. */
export function sha256(data: string | Uint8Array): Digest {
  // One-shot crypto.hash (Node ≥ 20.12): 2–4× faster than createHash for the small records
  // cache keys hash, and the same digest.
  return (PREFIX + hash("sha256", data, "hex")) as Digest;
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
