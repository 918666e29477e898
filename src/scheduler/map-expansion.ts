import { SluiceError } from "../errors.ts";
import type { MapNode, StepNode } from "../graph/index.ts";
import type { LocalCas } from "../store/local-cas.ts";
import { canonicalJson, sha256, type Digest } from "../util/canonical-json.ts";

/** One element of a map: its instance node, the element's bytes and digest. */
export interface MapElement {
  readonly node: StepNode;
  readonly digest: Digest;
  readonly bytes: Buffer;
}

/**
 * Reads the `over` array of a map and makes one instance per element, named `map[key]`. The
 * element travels as its own JSON artifact into input `as`; its digest is part of the instance's
 * key, so adding or changing one element runs one instance.
 */
export function expandMap(node: MapNode, overDigest: Digest, cas: LocalCas): MapElement[] {
  const bytes = cas.getBytes(overDigest);
  if (!bytes) throw new SluiceError("SLUICE_CACHE_CORRUPT", `map "${node.id}": its list ${overDigest} is missing from the cache. Run again: the producing step reruns.`, { step: node.id, digest: overDigest });
  const list = JSON.parse(bytes.toString("utf8")) as unknown;
  if (!Array.isArray(list)) {
    throw new SluiceError("SLUICE_STEP_FAILED", `map "${node.id}": \`over\` (${node.over.node}.${node.over.port}) is ${list === null ? "null" : typeof list}, not an array. Return a JSON array to map over.`, { step: node.id, field: "over" });
  }
  const seen = new Set<string>();
  return list.map((item, i) => {
    const key = String(node.key ? node.key(item, i) : i);
    if (seen.has(key)) throw new SluiceError("SLUICE_STEP_FAILED", `map "${node.id}": two elements have the key "${key}". Make \`key\` return a unique value per element.`, { step: node.id, field: "key", value: key });
    seen.add(key);
    const elementBytes = Buffer.from(canonicalJson(item), "utf8");
    return { node: { ...node, kind: "step", id: `${node.id}[${key}]` }, digest: sha256(elementBytes), bytes: elementBytes };
  });
}

/**
 * The collected output of one port: a JSON array in element order, of the values for a json port
 * and of digests for other kinds.
 */
export function collectPort(port: string, kind: string, outputs: ReadonlyArray<Readonly<Record<string, Digest>>>, cas: LocalCas, mapId: string): Buffer {
  const values = outputs.map((o) => {
    const d = o[port]!;
    if (kind !== "json") return d;
    const b = cas.getBytes(d);
    if (!b) throw new SluiceError("SLUICE_CACHE_CORRUPT", `map "${mapId}": output "${port}" ${d} of an element is missing from the cache. Run again to rebuild it.`, { step: mapId, digest: d });
    return JSON.parse(b.toString("utf8")) as unknown;
  });
  return Buffer.from(canonicalJson(values), "utf8");
}
