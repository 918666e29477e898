import type { Plan, StepNode } from "../graph/index.ts";
import { explainChanges, formatChange, type KeyChange } from "../hash/explain.ts";
import type { Digest } from "../util/canonical-json.ts";
import { KeyResolver, type CacheServices } from "./key-resolver.ts";

/** What a run would do with one step, decided without running anything. */
export interface StepPreview {
  readonly id: string;
  readonly step: string;
  /** `cached`: a usable entry exists; `run`: it would run; `unknown`: an upstream step must run first, so its inputs are not known yet. */
  readonly decision: "cached" | "run" | "unknown";
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
  for (const [id, s] of sources) known.set(id, { [s.kind]: s.digest });
  const out: StepPreview[] = [];
  for (const id of plan.order) {
    const node = plan.nodes.get(id)!;
    if (node.kind !== "step") continue;
    const inputs: Record<string, Digest> = {};
    const blockers: string[] = [];
    for (const [port, src] of Object.entries(node.inputs)) {
      const d = known.get(src.node)?.[src.port];
      if (d) inputs[port] = d;
      else blockers.push(src.node);
    }
    if (blockers.length > 0) {
      out.push({ id, step: node.step.name, decision: "unknown", reason: `inputs not known until ${[...new Set(blockers)].map((b) => `"${b}"`).join(", ")} run${blockers.length > 1 ? "" : "s"}`, key: null, changes: [] });
      continue;
    }
    const { key, record } = keys.keyFor(node, inputs);
    const forced = opts.force === "all" || (opts.force?.has(id) ?? false);
    const look = forced ? ({ hit: false, reason: "forced" } as const) : keys.lookup(node, key);
    if (look.hit) {
      known.set(id, look.outputs);
      out.push({ id, step: node.step.name, decision: "cached", reason: "cache hit", key, changes: [] });
      continue;
    }
    const { changes, reason } = whyMiss(services, plan.name, node, key, record, look.reason);
    out.push({ id, step: node.step.name, decision: "run", reason, key, changes });
  }
  return out;
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
