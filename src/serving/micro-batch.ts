/**
 * Micro-batching of online requests to one session. onnxruntime-node runs a session
 * synchronously on the main thread (deferred by a `setImmediate`), at ≈ 20 µs a call here
 * whatever the row count up to a few dozen rows; so requests that arrive in the same turn of the
 * event loop are scored in one run and the outputs split back by row. Nothing waits for a batch
 * to fill: a run starts on the next turn with whatever has arrived.
 */
import type ort from "onnxruntime-node";
import { allocate, toTensors, type FeedData, type PlainFeed, type PlainOutput } from "./model-io.ts";

interface Pending {
  readonly feeds: Readonly<Record<string, PlainFeed>>;
  readonly n: number;
  resolve(out: Record<string, PlainOutput>): void;
  reject(err: unknown): void;
}

/** Runs a session on tensors (the caller maps failures to its error). */
export type SessionRun = (feeds: Record<string, ort.Tensor>, n: number) => Promise<ort.InferenceSession.ReturnType>;

const plainOutputs = (out: ort.InferenceSession.ReturnType): Record<string, PlainOutput> => {
  const o: Record<string, PlainOutput> = {};
  for (const [k, t] of Object.entries(out)) o[k] = { data: (t as ort.Tensor).data as ArrayLike<unknown>, dims: (t as ort.Tensor).dims };
  return o;
};

function concatFeeds(parts: readonly Pending[], total: number): Record<string, PlainFeed> {
  const out: Record<string, PlainFeed> = {};
  for (const [name, first] of Object.entries(parts[0]!.feeds)) {
    const width = first.inner.reduce((a, d) => a * d, 1);
    const data = allocate(first.type, total * width);
    let at = 0;
    for (const p of parts) {
      const src = p.feeds[name]!.data;
      if (Array.isArray(data)) for (let k = 0; k < src.length; k++) data[at + k] = (src as string[])[k]!;
      else (data as Exclude<FeedData, string[]>).set(src as never, at);
      at += src.length;
    }
    out[name] = { type: first.type, data, inner: first.inner };
  }
  return out;
}

/** Rows `[start, start + n)` of each output, as views where the data is a typed array. */
function sliceOutputs(out: Record<string, PlainOutput>, total: number, start: number, n: number): Record<string, PlainOutput> {
  const o: Record<string, PlainOutput> = {};
  for (const [k, t] of Object.entries(out)) {
    // An output without the batch dimension first (a scalar, a constant) goes to every request as is.
    if (t.dims[0] !== total) {
      o[k] = t;
      continue;
    }
    const width = t.dims.slice(1).reduce((a, d) => a * d, 1);
    const data = t.data as unknown as { subarray?: (a: number, b: number) => ArrayLike<unknown>; slice: (a: number, b: number) => ArrayLike<unknown> };
    o[k] = { data: data.subarray ? data.subarray(start * width, (start + n) * width) : data.slice(start * width, (start + n) * width), dims: [n, ...t.dims.slice(1)] };
  }
  return o;
}

/** Requests to one session, gathered per event-loop turn and run together (at most `maxRows` rows a run). */
export class MicroBatcher {
  readonly #run: SessionRun;
  readonly #maxRows: number;
  #pending: Pending[] = [];
  #scheduled = false;

  constructor(run: SessionRun, maxRows: number) {
    this.#run = run;
    this.#maxRows = maxRows;
  }

  /** Scores `n` rows of prepared feeds with whatever else arrives in this turn; resolves with this request's outputs. */
  submit(feeds: Readonly<Record<string, PlainFeed>>, n: number): Promise<Record<string, PlainOutput>> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ feeds, n, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const all = this.#pending;
    this.#pending = [];
    let group: Pending[] = [];
    let rows = 0;
    for (const p of all) {
      if (group.length > 0 && rows + p.n > this.#maxRows) {
        this.#settle(group, rows);
        group = [];
        rows = 0;
      }
      group.push(p);
      rows += p.n;
    }
    if (group.length > 0) this.#settle(group, rows);
  }

  /** Runs a group; whatever throws (building tensors included) fails its requests, never the process. */
  #settle(group: Pending[], rows: number): void {
    this.#runGroup(group, rows).catch((err: unknown) => {
      for (const p of group) p.reject(err);
    });
  }

  async #runGroup(group: Pending[], rows: number): Promise<void> {
    if (group.length === 1) {
      const p = group[0]!;
      await this.#run(toTensors(p.feeds, p.n), p.n).then((out) => p.resolve(plainOutputs(out)), p.reject);
      return;
    }
    let out: Record<string, PlainOutput>;
    try {
      out = plainOutputs(await this.#run(toTensors(concatFeeds(group, rows), rows), rows));
    } catch {
      // One request's values broke the shared run: score each alone, so only that one fails.
      for (const p of group) await this.#run(toTensors(p.feeds, p.n), p.n).then((o) => p.resolve(plainOutputs(o)), p.reject);
      return;
    }
    let start = 0;
    for (const p of group) {
      p.resolve(sliceOutputs(out, rows, start, p.n));
      start += p.n;
    }
  }
}
