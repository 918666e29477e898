import { Graph } from "@dagrejs/graphlib";
import { topoSort, type TopoResult } from "./topo-sort.ts";

/**
 * The plan's edges as plain insertion-ordered maps. graphlib costs several microseconds per edge
 * here (string edge ids, object churn), which dominated planning 10,000-step pipelines, so the
 * hot path sorts these arrays directly and graphlib is used to diagnose a cycle.
 */
export class Adjacency {
  readonly preds = new Map<string, string[]>();
  readonly succs = new Map<string, string[]>();

  addNode(id: string): void {
    if (!this.preds.has(id)) {
      this.preds.set(id, []);
      this.succs.set(id, []);
    }
  }

  /** Adds `from → to` once (a node may feed several inputs of another). Both nodes must have been added. */
  addEdge(from: string, to: string): void {
    const p = this.preds.get(to)!;
    if (!p.includes(from)) {
      p.push(from);
      this.succs.get(from)!.push(to);
    }
  }

  /** Kahn's algorithm, iterative, ties in insertion order; on a cycle, graphlib finds its path. */
  sort(): TopoResult {
    const indeg = new Map<string, number>();
    const queue: string[] = [];
    // forEach, not for-of: no [key, value] array per node.
    this.preds.forEach((p, id) => {
      indeg.set(id, p.length);
      if (p.length === 0) queue.push(id);
    });
    for (let head = 0; head < queue.length; head++) {
      for (const s of this.succs.get(queue[head]!)!) {
        const d = indeg.get(s)! - 1;
        indeg.set(s, d);
        if (d === 0) queue.push(s);
      }
    }
    if (queue.length === this.preds.size) return { ok: true, order: queue };
    const g = new Graph({ directed: true });
    for (const [id, d] of indeg) if (d > 0) g.setNode(id);
    for (const id of g.nodes()) for (const s of this.succs.get(id)!) if (g.hasNode(s)) g.setEdge(id, s);
    return topoSort(g);
  }
}
