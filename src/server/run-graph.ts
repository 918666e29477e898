/**
 * A run's own graph: its pipeline planned again with the params the run recorded (the run store
 * keeps no plan), so a run made with other params (another branch, another source step) is drawn
 * as it ran, not as the pipeline's default plan. Map instances (`train[3]`) belong to their map
 * node. Plans are kept per run (a few hundred), since a run's params never change.
 */
import type { RunRecord, StepRunRecord } from "../store/run-store/index.ts";
import type { Workspace } from "../workspace/index.ts";

/** One step of a run's plan (source files and folders left out). */
export interface GraphNode {
  readonly id: string;
  readonly kind: "step" | "map";
  /** Upstream steps whose outputs it takes (or whose `when` gates it). */
  readonly dependsOn: readonly string[];
}

/** A step record with its place in the run's graph. */
export type StepRunWithDeps = StepRunRecord & {
  readonly dependsOn: readonly string[];
  /** For a map instance: its map node. */
  readonly mapOf?: string;
};

const KEPT = 300;
const INSTANCE = /^(.*?)\[(.*)\]$/;

/** Plans runs' graphs, remembering the last few hundred. */
export class RunGraphs {
  readonly #ws: Workspace;
  readonly #kept = new Map<string, readonly GraphNode[] | null>();

  constructor(ws: Workspace) {
    this.#ws = ws;
  }

  /** The run's graph in plan order, or null when its pipeline no longer loads or plans with its params. */
  async of(run: RunRecord): Promise<readonly GraphNode[] | null> {
    const hit = this.#kept.get(run.id);
    if (hit !== undefined) return hit;
    let graph: readonly GraphNode[] | null;
    try {
      const info = await this.#ws.load(run.pipeline);
      const plan = this.#ws.plan(info.pipeline, (run.params ?? {}) as Record<string, unknown>);
      const isStep = (id: string): boolean => plan.nodes.get(id)?.kind !== "source";
      graph = plan.order.filter(isStep).map((id) => ({ id, kind: plan.nodes.get(id)!.kind as "step" | "map", dependsOn: (plan.deps.get(id) ?? []).filter(isStep) }));
    } catch {
      graph = null; // renamed, deleted or changed so that these params no longer plan
    }
    // A running run's plan is kept too: its params are fixed from the start.
    this.#kept.set(run.id, graph);
    if (this.#kept.size > KEPT) this.#kept.delete(this.#kept.keys().next().value!);
    return graph;
  }
}

/** Each step record with `dependsOn` from the graph (none when unknown); an instance takes its map node's, and `mapOf`. */
export function withDependsOn(steps: readonly StepRunRecord[], graph: readonly GraphNode[] | null): StepRunWithDeps[] {
  const deps = new Map((graph ?? []).map((n) => [n.id, n.dependsOn]));
  return steps.map((s) => {
    const own = deps.get(s.stepId);
    if (own) return { ...s, dependsOn: own };
    const m = INSTANCE.exec(s.stepId);
    if (m && deps.has(m[1]!)) return { ...s, dependsOn: deps.get(m[1]!)!, mapOf: m[1]! };
    return { ...s, dependsOn: [] };
  });
}
