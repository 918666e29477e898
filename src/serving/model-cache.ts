/**
 * onnxruntime-node sessions, one per model digest, shared by every deployment and endpoint that
 * serves the same bytes. Each session has one intra-op thread (STACK.md: two made p99 worse on
 * this machine, and tree outputs differ by ~1e-6 across thread counts).
 */
import ort from "onnxruntime-node";
import { SluiceError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { MicroBatcher } from "./micro-batch.ts";
import { buildFeeds, describeModel, readPredictions, toTensors, type CellGetter, type ModelIO, type Prediction } from "./model-io.ts";

/** Rows of one micro-batched session run at most. */
const MICRO_BATCH_MAX_ROWS = 4096;

/** Where model bytes come from: the workspace's CAS (`LocalCas` fits). */
export interface ModelBytesSource {
  getBytes(digest: string): Uint8Array | undefined;
}

/** A loaded model: its session and what it takes and gives. */
export interface LoadedModel {
  readonly digest: string;
  readonly io: ModelIO;
  /** Scores `n` rows read through `get`; bad cells throw `SLUICE_DATA_INVALID` naming row and column. */
  score(n: number, get: CellGetter, where: string): Promise<Prediction[]>;
  /** Raw session outputs for `n` rows (batch scoring turns them into columns); errors name row `rowBase + i`. */
  run(n: number, get: CellGetter, where: string, rowBase?: number): Promise<ort.InferenceSession.ReturnType>;
}

interface Entry {
  readonly loading: Promise<LoadedModel>;
  session?: ort.InferenceSession;
}

function loaded(digest: string, session: ort.InferenceSession, io: ModelIO, microBatch: boolean): LoadedModel {
  const runTensors = async (feeds: Record<string, ort.Tensor>, n: number): Promise<ort.InferenceSession.ReturnType> => {
    try {
      return await session.run(feeds);
    } catch (err) {
      throw new SluiceError("SLUICE_SCORING_FAILED", `model ${digest}: onnxruntime-node failed to score ${n} row(s): ${(err as Error).message}. Check the values against the model's inputs.`, { digest }, { cause: err });
    }
  };
  const batcher = new MicroBatcher(runTensors, MICRO_BATCH_MAX_ROWS);
  return {
    digest,
    io,
    run: (n, get, where, rowBase = 0) => runTensors(toTensors(buildFeeds(io, n, get, where, rowBase), n), n),
    async score(n, get, where) {
      if (n === 0) return [];
      const feeds = buildFeeds(io, n, get, where);
      const out = microBatch ? await batcher.submit(feeds, n) : await runTensors(toTensors(feeds, n), n);
      return readPredictions(io, out, n);
    },
  };
}

/** Sessions by digest: loads each once (concurrent loads share one), releases on request. */
export class ModelCache {
  readonly #source: ModelBytesSource;
  readonly #log: Logger;
  readonly #entries = new Map<string, Entry>();

  readonly #microBatch: boolean;

  /** `microBatch`: score requests that arrive in the same event-loop turn in one session run (see micro-batch.ts). */
  constructor(source: ModelBytesSource, log: Logger, opts: { microBatch: boolean }) {
    this.#source = source;
    this.#log = log;
    this.#microBatch = opts.microBatch;
  }

  /** The loaded model of `digest`; `where` names the deployment in errors. */
  load(digest: string, where: string): Promise<LoadedModel> {
    const hit = this.#entries.get(digest);
    if (hit) return hit.loading;
    const entry: { loading?: Promise<LoadedModel>; session?: ort.InferenceSession } = {};
    entry.loading = (async () => {
      const bytes = this.#source.getBytes(digest);
      if (!bytes) throw new SluiceError("SLUICE_MODEL_NOT_FOUND", `${where}: the model's ONNX bytes (${digest}) are not in the store. Register the model again (rerun its pipeline) or restore the cache.`, { digest });
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
      } catch (err) {
        throw new SluiceError("SLUICE_SCORING_FAILED", `${where}: onnxruntime-node cannot load the model ${digest}: ${(err as Error).message}. Register a valid ONNX model.`, { digest }, { cause: err });
      }
      entry.session = session;
      try {
        return loaded(digest, session, describeModel(bytes, session, where), this.#microBatch);
      } catch (err) {
        await session.release();
        throw err;
      }
    })();
    this.#entries.set(digest, entry as Entry);
    // A failed load is not cached: the next request tries again (the bytes may be restored).
    entry.loading.catch(() => this.#entries.delete(digest));
    this.#log.debug({ digest }, "model loading");
    return entry.loading;
  }

  /** Releases the sessions of every digest not in `keep`. */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    const drop = [...this.#entries].filter(([d]) => !keep.has(d));
    for (const [d] of drop) this.#entries.delete(d);
    await Promise.all(drop.map(async ([digest, e]) => {
      await e.loading.catch(() => undefined);
      await e.session?.release();
      this.#log.debug({ digest }, "model released");
    }));
  }

  /** Releases every session. */
  async close(): Promise<void> {
    await this.retain(new Set());
  }
}
