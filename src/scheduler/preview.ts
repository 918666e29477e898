import type { MapNode, Plan, StepNode } from "../graph/index.ts";
import { collectPort, expandMap } from "./map-expansion.ts";
import { sha256 } from "../util/canonical-json.ts";
import { explainChanges, formatChange, type KeyChange } from "../hash/explain.ts";
import type { Digest } from "../util/canonical-json.ts";
import { KeyResolver, type CacheServices } from "./key-resolver.ts";

/** What a run would do with one step, decided without running anything. */
export interface StepPreview {
  readonly id: string;
  readonly step: string;
  /** `cached`: a usable entry exists; `run`: it would run; `unknown`: an upstream step must run first, so its inputs are not known yet. */
  readonly decision: "cached" | "run" | "skipped" | "unknown";
  readonly reason: string;
  readonly key: string | null;
  /** For `run`: what changed since the newest earlier entry of this step. */
  readonly changes: readonly KeyChange[];
}

/**
 * Decides, for each step in order, hit or miss, and for a miss diffs its key against the newest
 * earlier entry of the same step: the engine behind `--dry-run` and `explain`.
 */
export async function previewRun(plan: Plan, services: CacheServices, opts: { force?: ReadonlySet<string> | "all" } = {}): Promise<StepPreview[]> {
  const keys = new KeyResolver(services, plan.name);
  keys.fingerprintAll(plan);
  const sources = await keys.digestSources(plan);
  const known = new Map<string, Readonly<Record<string, Digest>>>();
  const skipped = new Set<string>();
  for (const [id, s] of sources) known.set(id, { [s.kind]: s.digest });
  const out: StepPreview[] = [];
  const forcedId = (id: string): boolean => opts.force === "all" || (opts.force?.has(id) ?? false);
  for (const id of plan.order) {
    const node = plan.nodes.get(id)!;
    if (node.kind === "source") continue;
    const base = { id, step: node.step.name };
    const wanted = [...Object.values(node.inputs), ...(node.when ? [node.when.source] : []), ...(node.kind === "map" ? [node.over] : [])];
    const skippedBy = wanted.find((src) => skipped.has(src.node));
    if (skippedBy) {
      skipped.add(id);
      out.push({ ...base, decision: "skipped", reason: `upstream "${skippedBy.node}" is skipped`, key: null, changes: [] });
      continue;
    }
    const blockers = [...new Set(wanted.filter((src) => !known.get(src.node)?.[src.port]).map((src) => src.node))];
    if (blockers.length > 0) {
      out.push({ ...base, decision: "unknown", reason: `inputs not known until ${blockers.map((b) => `"${b}"`).join(", ")} run${blockers.length > 1 ? "" : "s"}`, key: null, changes: [] });
      continue;
    }
    const inputs: Record<string, Digest> = {};
    for (const [port, src] of Object.entries(node.inputs)) inputs[port] = known.get(src.node)![src.port]!;
    if (node.when) {
      const bytes = services.cas.getBytes(known.get(node.when.source.node)![node.when.source.port]!);
      if (bytes && !node.when.test(JSON.parse(bytes.toString("utf8")))) {
        skipped.add(id);
        out.push({ ...base, decision: "skipped", reason: `when ${node.when.label} is false`, key: null, changes: [] });
        continue;
      }
    }
    if (node.kind === "map") {
      out.push(previewMap(node, inputs, known, keys, services, plan.name, forcedId(id)));
      continue;
    }
    const { key } = keys.keyOf(node, inputs);
    const look = forcedId(id) ? ({ hit: false, reason: "forced" } as const) : keys.lookup(node, key);
    if (look.hit) {
      known.set(id, look.outputs);
      out.push({ ...base, decision: "cached", reason: "cache hit", key, changes: [] });
      continue;
    }
    const { changes, reason } = whyMiss(services, plan.name, node, key, keys.recordOf(node, inputs), look.reason);
    out.push({ ...base, decision: "run", reason, key, changes });
  }
  return out;
}

/** A map is cached when every element's instance is; otherwise says how many would run and why the first one would. */
function previewMap(node: MapNode, inputs: Record<string, Digest>, known: Map<string, Readonly<Record<string, Digest>>>, keys: KeyResolver, services: CacheServices, pipeline: string, forced: boolean): StepPreview {
  const elements = expandMap(node, known.get(node.over.node)![node.over.port]!, services.cas);
  const hits: Array<Readonly<Record<string, Digest>>> = [];
  let firstMiss: StepPreview | undefined;
  let misses = 0;
  for (const e of elements) {
    const elementInputs = { ...inputs, [node.as]: e.digest };
    const { key } = keys.keyOf(e.node, elementInputs);
    const look = forced ? ({ hit: false, reason: "forced" } as const) : keys.lookup(e.node, key);
    if (look.hit) {
      hits.push(look.outputs);
      continue;
    }
    misses++;
    if (!firstMiss) {
      const why = whyMiss(services, pipeline, e.node, key, keys.recordOf(e.node, elementInputs), look.reason);
      firstMiss = { id: e.node.id, step: node.step.name, decision: "run", reason: why.reason, key, changes: why.changes };
    }
  }
  const base = { id: node.id, step: node.step.name, key: null };
  if (!firstMiss) {
    const outputs: Record<string, Digest> = {};
    for (const [port, spec] of Object.entries(node.step.outputs as Record<string, { kind: string }>)) outputs[port] = sha256(collectPort(port, spec.kind, hits, services.cas, node.id));
    known.set(node.id, outputs);
    return { ...base, decision: "cached", reason: `all ${elements.length} instances cached`, changes: [] };
  }
  return { ...base, decision: "run", reason: `${misses} of ${elements.length} instances to run; first: ${firstMiss.id}: ${firstMiss.reason}`, changes: firstMiss.changes };
}

function whyMiss(services: CacheServices, pipeline: string, node: StepNode, key: string, record: Parameters<typeof explainChanges>[1]["record"], lookupReason: string): { changes: KeyChange[]; reason: string } {
  if (lookupReason !== "no cache entry for this key") return { changes: [], reason: lookupReason };
  const prev = services.actionCache.newestFor(pipeline, node.id, key);
  if (!prev) return { changes: [], reason: "never run before" };
  const changes = explainChanges(
    { record: prev.record, code: services.actionCache.getCode(prev.record.code) },
    { record, code: services.actionCache.getCode(record.code) },
  );
  return { changes, reason: changes.length ? changes.map(formatChange).join("; ") : "no earlier entry matches" };
}
