import { Graph } from "@dagrejs/graphlib";
import { topoSort, type TopoResult } from "./topo-sort.ts";

/** The edges of a node that has none (shared: a node's list is made on its first edge). */
const NONE: readonly number[] = Object.freeze([]);

/**
 * The plan's edges as arrays by node number (a node's position in `ids`). graphlib costs several
 * microseconds per edge here (string edge ids, object churn), and maps keyed by id cost a lookup
 * per edge and per node: planning 10,000 steps spent most of its time there. The hot path sorts
 * these arrays directly, and graphlib is used to diagnose a cycle.
 */
export class Adjacency {
  readonly #ids: readonly string[];
  readonly #index: ReadonlyMap<string, number>;
  /** Each node's distinct upstream and downstream nodes, by number. */
  readonly #preds: Array<readonly number[]>;
  readonly #succs: Array<readonly number[]>;

  /** `index` maps each id of `ids` to its position. */
  constructor(ids: readonly string[], index: ReadonlyMap<string, number>) {
    this.#ids = ids;
    this.#index = index;
    this.#preds = new Array<readonly number[]>(ids.length).fill(NONE);
    this.#succs = new Array<readonly number[]>(ids.length).fill(NONE);
  }

  /** Adds `from → to` once (a node may feed several inputs of another), by node number. */
  addEdge(from: number, to: number): void {
    let p = this.#preds[to]! as number[];
    if (p === NONE) this.#preds[to] = p = [];
    else if (p.includes(from)) return;
    p.push(from);
    let s = this.#succs[from]! as number[];
    if (s === NONE) this.#succs[from] = s = [];
    s.push(to);
  }

  /** Kahn's algorithm, iterative, ties in insertion order; on a cycle, graphlib finds its path. */
  sort(): TopoResult {
    const n = this.#ids.length;
    const indeg = new Int32Array(n);
    const queue = new Int32Array(n);
    let tail = 0;
    for (let i = 0; i < n; i++) if ((indeg[i] = this.#preds[i]!.length) === 0) queue[tail++] = i;
    for (let head = 0; head < tail; head++) {
      for (const j of this.#succs[queue[head]!]!) {
        const d = indeg[j]! - 1;
        indeg[j] = d;
        if (d === 0) queue[tail++] = j;
      }
    }
    if (tail === n) {
      const order = new Array<string>(n);
      for (let k = 0; k < n; k++) order[k] = this.#ids[queue[k]!]!;
      return { ok: true, order };
    }
    const g = new Graph({ directed: true });
    for (let i = 0; i < n; i++) if (indeg[i]! > 0) g.setNode(this.#ids[i]!);
    for (const id of g.nodes()) {
      for (const j of this.#succs[this.#index.get(id)!]!) if (g.hasNode(this.#ids[j]!)) g.setEdge(id, this.#ids[j]!);
    }
    return topoSort(g);
  }

  /** Each node's distinct upstream ids, by id. */
  preds(): Map<string, readonly string[]> {
    return this.#byId(this.#preds);
  }

  /** Each node's distinct downstream ids, by id. */
  succs(): Map<string, readonly string[]> {
    return this.#byId(this.#succs);
  }

  #byId(lists: ReadonlyArray<readonly number[]>): Map<string, readonly string[]> {
    const m = new Map<string, readonly string[]>();
    for (let i = 0; i < lists.length; i++) m.set(this.#ids[i]!, lists[i]!.map((j) => this.#ids[j]!));
    return m;
  }
}
