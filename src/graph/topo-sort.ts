import type { Graph } from "@dagrejs/graphlib";

/** Result of an iterative topological sort: an order, or one cycle as a closed path. */
export type TopoResult = { ok: true; order: string[] } | { ok: false; cycle: string[] };

/**
 * Kahn's algorithm, iterative (graphlib's own sort recurses and overflows the stack near a few
 * thousand chained nodes). Ties keep insertion order, so plans are stable run to run.
 */
export function topoSort(g: Graph): TopoResult {
  const nodes = g.nodes();
  const indeg = new Map<string, number>();
  for (const n of nodes) indeg.set(n, (g.predecessors(n) ?? []).length);
  const queue: string[] = [];
  for (const n of nodes) if (indeg.get(n) === 0) queue.push(n);
  const order: string[] = [];
  for (let head = 0; head < queue.length; head++) {
    const n = queue[head]!;
    order.push(n);
    for (const s of g.successors(n) ?? []) {
      const d = indeg.get(s)! - 1;
      indeg.set(s, d);
      if (d === 0) queue.push(s);
    }
  }
  if (order.length === nodes.length) return { ok: true, order };
  return { ok: false, cycle: findCycle(g, indeg) };
}

/** Walks predecessors among the unsorted nodes until one repeats: every such node has one. */
function findCycle(g: Graph, indeg: Map<string, number>): string[] {
  const start = [...indeg].find(([, d]) => d > 0)![0];
  const seenAt = new Map<string, number>();
  const path: string[] = [];
  let cur = start;
  while (!seenAt.has(cur)) {
    seenAt.set(cur, path.length);
    path.push(cur);
    cur = (g.predecessors(cur) ?? []).find((p) => (indeg.get(p) ?? 0) > 0)!;
  }
  // path walks against the edges; reverse it so the cycle reads in edge direction.
  const cycle = path.slice(seenAt.get(cur)!).reverse();
  return [...cycle, cycle[0]!];
}
