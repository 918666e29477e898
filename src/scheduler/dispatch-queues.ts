import type { ExecutorKind } from "../define/index.ts";

/** FIFO queues per executor kind, with O(1) shift (a head index, compacted now and then). */
export class DispatchQueues<U> {
  readonly #q = new Map<ExecutorKind, { items: U[]; head: number }>();
  #size = 0;

  /** Units waiting, all kinds together. */
  get size(): number {
    return this.#size;
  }

  /** Kinds with units waiting. */
  kinds(): ExecutorKind[] {
    return [...this.#q.keys()].filter((k) => this.#q.get(k)!.items.length > this.#q.get(k)!.head);
  }

  /** Appends a unit to its kind's queue. */
  push(kind: ExecutorKind, u: U): void {
    let q = this.#q.get(kind);
    if (!q) this.#q.set(kind, (q = { items: [], head: 0 }));
    q.items.push(u);
    this.#size++;
  }

  /** The next unit of a kind, left in place. */
  peek(kind: ExecutorKind): U | undefined {
    const q = this.#q.get(kind);
    return q && q.head < q.items.length ? q.items[q.head] : undefined;
  }

  /** Takes the next unit of a kind. */
  shift(kind: ExecutorKind): U | undefined {
    const q = this.#q.get(kind);
    if (!q || q.head >= q.items.length) return undefined;
    const u = q.items[q.head++];
    this.#size--;
    if (q.head > 1024 && q.head * 2 > q.items.length) {
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
    return u;
  }

  /** Takes every unit of a kind. */
  drain(kind: ExecutorKind): U[] {
    const out: U[] = [];
    for (let u = this.shift(kind); u; u = this.shift(kind)) out.push(u);
    return out;
  }

  /** Empties every queue. */
  clear(): void {
    this.#q.clear();
    this.#size = 0;
  }
}
