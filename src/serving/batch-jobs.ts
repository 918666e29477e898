/**
 * Batch scoring jobs: records with a status (queued → running → succeeded | failed), run one at a
 * time off the request that started them. Records live in memory (the newest `maxJobs`); each
 * result is a table artifact in the CAS, so it outlives the process. At most `maxWaiting` jobs
 * wait or run at once: a client submitting faster than jobs finish is told so, not queued forever.
 */
import { sortableId } from "../util/sortable-id.ts";
import { serializeError, SluiceError, type SerializedError } from "../errors.ts";
import type { Logger } from "../log.ts";

/** Where a batch job is in its life. */
export type BatchStatus = "queued" | "running" | "succeeded" | "failed";

/** What a batch job scores: a table artifact in the CAS or a table file of the workspace. */
export interface BatchSource {
  /** `sha256:<hex>` of an Arrow IPC table in the CAS (a run's table output). */
  readonly table?: string;
  /** A CSV, JSON Lines, Parquet or Arrow file, relative to the workspace root. */
  readonly path?: string;
}

/** One batch scoring job, as the API shows it. */
export interface BatchJob {
  readonly id: string;
  readonly endpoint: string;
  readonly deployment: string;
  readonly model: { readonly name: string; readonly version: number };
  readonly source: BatchSource;
  readonly status: BatchStatus;
  /** Epoch ms. */
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  /** Rows scored (when succeeded). */
  readonly rows: number | null;
  /** `sha256:<hex>` of the result table (input columns plus predictions) in the CAS. */
  readonly result: string | null;
  readonly error: SerializedError | null;
}

/** The work of a job: scores and stores, returning the row count and the result digest. */
export type BatchWork = () => Promise<{ rows: number; result: string }>;

/** The job records and their serial runner. */
export class BatchJobs {
  readonly #jobs = new Map<string, BatchJob>();
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #maxJobs: number;
  readonly #maxWaiting: number;
  /** Jobs queued or running. */
  #waiting = 0;
  #tail: Promise<void> = Promise.resolve();

  constructor(opts: { clock: () => number; log: Logger; maxJobs: number; maxWaiting: number }) {
    this.#clock = opts.clock;
    this.#log = opts.log;
    this.#maxJobs = opts.maxJobs;
    this.#maxWaiting = opts.maxWaiting;
  }

  /** Throws SLUICE_QUEUE_FULL when `maxWaiting` jobs are queued or running (call before `submit`). */
  assertRoom(): void {
    if (this.#waiting >= this.#maxWaiting) {
      throw new SluiceError("SLUICE_QUEUE_FULL", `${this.#waiting} batch jobs are queued or running, the most this server takes (maxQueuedJobs). Wait for some to finish (GET …/batch lists them), then start this one again.`, { queued: this.#waiting });
    }
  }

  /** Records a queued job and schedules its work after the jobs before it; returns the record. */
  submit(init: Pick<BatchJob, "endpoint" | "deployment" | "model" | "source">, work: BatchWork): BatchJob {
    this.assertRoom();
    this.#waiting++;
    const now = this.#clock();
    const job: BatchJob = { ...init, id: sortableId("b", now), status: "queued", createdAt: now, startedAt: null, finishedAt: null, rows: null, result: null, error: null };
    this.#set(job);
    this.#evict();
    this.#tail = this.#tail.then(() => this.#run(job.id, work));
    return job;
  }

  async #run(id: string, work: BatchWork): Promise<void> {
    this.#update(id, { status: "running", startedAt: this.#clock() });
    const log = this.#log.child({ job: id });
    try {
      const { rows, result } = await work();
      this.#update(id, { status: "succeeded", rows, result, finishedAt: this.#clock() });
      log.info({ rows, result }, "batch job succeeded");
    } catch (err) {
      const error = serializeError(err);
      delete error.stack;
      this.#update(id, { status: "failed", error, finishedAt: this.#clock() });
      log.warn({ err: error }, "batch job failed");
    } finally {
      this.#waiting--;
    }
  }

  #set(job: BatchJob): void {
    this.#jobs.set(job.id, job);
  }

  #update(id: string, patch: Partial<BatchJob>): void {
    const job = this.#jobs.get(id);
    // An evicted record is gone; its work still finishes, its result stays in the CAS.
    if (job) this.#set({ ...job, ...patch });
  }

  /** Drops the oldest finished records beyond `maxJobs`. */
  #evict(): void {
    if (this.#jobs.size <= this.#maxJobs) return;
    for (const [id, job] of this.#jobs) {
      if (this.#jobs.size <= this.#maxJobs) break;
      if (job.status === "succeeded" || job.status === "failed") this.#jobs.delete(id);
    }
  }

  /** A job of `endpoint` by id, or undefined. */
  get(endpoint: string, id: string): BatchJob | undefined {
    const job = this.#jobs.get(id);
    return job?.endpoint === endpoint ? job : undefined;
  }

  /** Jobs of `endpoint`, newest first. */
  list(endpoint: string): BatchJob[] {
    return [...this.#jobs.values()].filter((j) => j.endpoint === endpoint).reverse();
  }

  /** Resolves when every job submitted so far has finished. */
  idle(): Promise<void> {
    return this.#tail;
  }
}
