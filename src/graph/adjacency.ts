import { Graph } from "@dagrejs/graphlib";
import { topoSort, type TopoResult } from "./topo-sort.ts";

/** A sorted graph's order, as ids and as node numbers; or one of its cycles. */
export type AdjacencyOrder = { ok: true; order: string[]; numbers: Int32Array } | Extract<TopoResult, { ok: false }>;

/**
 * The plan's edges by node number (a node's position in `ids`), kept as two flat lists of
 * numbers. graphlib costs several microseconds per edge here (string edge ids, object churn), and
 * maps keyed by id cost a lookup per edge and per node; arrays per node cost two arrays each (a
 * 10,000-step plan kept 20,000 of them, 3.7 MB that every scavenge of a run copied). The sort
 * reads the flat lists through offsets it builds; graphlib is used to diagnose a cycle.
 *
 * Edges into one node are added together (a plan adds each node's inputs in turn): an edge that
 * repeats among them is dropped, since a node may feed several inputs of another.
 */
export class Adjacency {
  readonly #ids: readonly string[];
  readonly #index: ReadonlyMap<string, number>;
  #from: Int32Array = new Int32Array(64);
  #to: Int32Array = new Int32Array(64);
  #count = 0;

  /** `index` maps each id of `ids` to its position. */
  constructor(ids: readonly string[], index: ReadonlyMap<string, number>) {
    this.#ids = ids;
    this.#index = index;
  }

  /** Adds `from → to` once per run of edges into `to`, by node number. */
  addEdge(from: number, to: number): void {
    for (let k = this.#count - 1; k >= 0 && this.#to[k] === to; k--) if (this.#from[k] === from) return;
    if (this.#count === this.#from.length) {
      const grow = (a: Int32Array): Int32Array => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.#from = grow(this.#from);
      this.#to = grow(this.#to);
    }
    this.#from[this.#count] = from;
    this.#to[this.#count++] = to;
  }

  /** Each node's successors as `targets[start[i] .. start[i + 1]]`, in the order added. */
  #successors(): { start: Int32Array; targets: Int32Array } {
    const n = this.#ids.length;
    const m = this.#count;
    const from = this.#from;
    const start = new Int32Array(n + 1);
    for (let k = 0; k < m; k++) start[from[k]! + 1]!++;
    for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
    const next = start.slice(0, n);
    const targets = new Int32Array(m);
    for (let k = 0; k < m; k++) targets[next[from[k]!]!++] = this.#to[k]!;
    return { start, targets };
  }

  /** Kahn's algorithm, iterative, ties in insertion order; on a cycle, graphlib finds its path. */
  sort(): AdjacencyOrder {
    const n = this.#ids.length;
    const { start, targets } = this.#successors();
    const indeg = new Int32Array(n);
    for (let k = 0; k < this.#count; k++) indeg[this.#to[k]!]!++;
    const queue = new Int32Array(n);
    let tail = 0;
    for (let i = 0; i < n; i++) if (indeg[i] === 0) queue[tail++] = i;
    for (let head = 0; head < tail; head++) {
      const i = queue[head]!;
      for (let e = start[i]!; e < start[i + 1]!; e++) {
        const j = targets[e]!;
        if (--indeg[j]! === 0) queue[tail++] = j;
      }
    }
    if (tail === n) {
      const order = new Array<string>(n);
      for (let k = 0; k < n; k++) order[k] = this.#ids[queue[k]!]!;
      return { ok: true, order, numbers: queue };
    }
    const g = new Graph({ directed: true });
    for (let i = 0; i < n; i++) if (indeg[i]! > 0) g.setNode(this.#ids[i]!);
    for (const id of g.nodes()) {
      const i = this.#index.get(id)!;
      for (let e = start[i]!; e < start[i + 1]!; e++) if (g.hasNode(this.#ids[targets[e]!]!)) g.setEdge(id, this.#ids[targets[e]!]!);
    }
    const cycle = topoSort(g);
    if (cycle.ok) throw new Error("Adjacency.sort: graphlib found no cycle among the nodes left unsorted");
    return cycle;
  }

  /** Each node's distinct upstream ids, by id. */
  preds(): Map<string, readonly string[]> {
    return this.#byId(this.#to, this.#from);
  }

  /** Each node's distinct downstream ids, by id. */
  succs(): Map<string, readonly string[]> {
    return this.#byId(this.#from, this.#to);
  }

  /** For every node, the ids at the other end of its edges (`of[k]` → `other[k]`), in the order added. */
  #byId(of: Int32Array, other: Int32Array): Map<string, readonly string[]> {
    const lists = this.#ids.map((): string[] => []);
    for (let k = 0; k < this.#count; k++) lists[of[k]!]!.push(this.#ids[other[k]!]!);
    const m = new Map<string, readonly string[]>();
    for (let i = 0; i < lists.length; i++) m.set(this.#ids[i]!, lists[i]!);
    return m;
  }
}
