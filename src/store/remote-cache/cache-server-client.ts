import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import type { FetchReply, FetchResult, UploadItem, UploadReply, WorkerInit } from "./protocol.ts";

/** Options of `CacheServerClient`. */
export interface CacheServerClientOptions {
  /** Base URL of a server speaking the Turborepo remote cache API, e.g. `http://cache:3000`. */
  readonly url: string;
  /** Bearer token. */
  readonly token?: string;
  /** Team the artifacts are filed under (`team_…` goes as `teamId`, anything else as `slug`). @default "sluice" */
  readonly team?: string;
  /** Per request, body included. @default 30000 */
  readonly timeoutMs?: number;
  /** Requests in flight at once (reads, and uploads). @default 8 */
  readonly concurrency?: number;
  /** Larger bodies are streamed to a file in `tmpDir` instead of memory. */
  readonly inlineMaxBytes: number;
  /** Where streamed bodies land (the local cache's `tmp/`, so they can be renamed into place). */
  readonly tmpDir: string;
  /** Never upload. @default false */
  readonly readOnly?: boolean;
}

/** From sources, a small entry registers tsx first; the dist bundle has a plain JavaScript worker. */
const WORKER_URL = import.meta.url.endsWith(".ts") ? new URL("./http-worker-entry.mjs", import.meta.url) : new URL("./remote-cache-worker.js", import.meta.url);

/**
 * Talks `/v8/artifacts/:name` (GET, HEAD, PUT) to a cache server from a worker thread. `fetch` is
 * synchronous for the caller: the calling thread blocks until the worker has every body, because
 * the local stores it stands behind are synchronous. `fetchAsync` and uploads are asynchronous.
 */
export class CacheServerClient {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #flag = new Int32Array(new SharedArrayBuffer(4));
  readonly #waitMs: number;
  readonly #concurrency: number;
  readonly #uploads = new Map<number, (r: UploadReply) => void>();
  /** Fetches made with `fetchAsync`, by request id, waiting for their replies. */
  readonly #waiting = new Map<number, { names: readonly string[]; done: (r: FetchResult[]) => void }>();
  #nextId = 0;
  /** Why the worker thread is gone, once it is: every later request is answered `unavailable` at once. */
  #dead: string | undefined;

  constructor(opts: CacheServerClientOptions) {
    const team = opts.team ?? "sluice";
    const { port1, port2 } = new MessageChannel();
    const timeoutMs = opts.timeoutMs ?? 30_000;
    this.#concurrency = opts.concurrency ?? 8;
    // A request waits for its turn behind at most `concurrency - 1` others; past this, the worker is stuck.
    this.#waitMs = timeoutMs * 2 + 1000;
    const init: WorkerInit = {
      url: opts.url.replace(/\/+$/, ""),
      token: opts.token,
      teamQuery: `${team.startsWith("team_") ? "teamId" : "slug"}=${encodeURIComponent(team)}`,
      timeoutMs, concurrency: this.#concurrency, inlineMaxBytes: opts.inlineMaxBytes, tmpDir: opts.tmpDir,
      readOnly: opts.readOnly ?? false, flag: this.#flag, syncPort: port2,
    };
    this.#port = port1;
    // Replies that no synchronous `fetch` took off the port arrive here: those of `fetchAsync`
    // (late replies of requests that timed out are dropped).
    this.#port.on("message", (m: FetchReply) => this.#route(m));
    this.#port.unref();
    this.#worker = new Worker(WORKER_URL, { workerData: init, transferList: [port2] });
    this.#worker.on("message", (r: UploadReply) => {
      const done = this.#uploads.get(r.id);
      this.#uploads.delete(r.id);
      done?.(r);
    });
    this.#worker.on("error", (err) => {
      const reason = (this.#dead = `cache client thread failed: ${err.message}`);
      for (const [id, done] of this.#uploads) done({ id, status: "unavailable", reason });
      this.#uploads.clear();
      for (const [id, w] of [...this.#waiting]) this.#settle(id, w.names.map(() => ({ status: "unavailable", reason })));
    });
    this.#worker.on("exit", () => (this.#dead ??= "cache client thread stopped"));
    this.#worker.unref();
  }

  /**
   * Fetches artifacts by name, blocking this thread until all answered (each digest-hashed as it
   * streamed). One failure makes the whole answer `unavailable`: callers never act on half of it.
   */
  fetch(names: readonly string[]): FetchResult[] {
    if (names.length === 0) return [];
    const dead = this.#dead;
    if (dead) return names.map(() => ({ status: "unavailable", reason: dead }));
    const id = ++this.#nextId;
    // The worker bumps the counter after posting each reply, so a change means a reply is waiting.
    let seen = Atomics.load(this.#flag, 0);
    this.#port.postMessage({ id, names });
    const rounds = Math.ceil(names.length / this.#concurrency);
    const deadline = Date.now() + this.#waitMs * rounds;
    for (;;) {
      for (let r = receiveMessageOnPort(this.#port); r; r = receiveMessageOnPort(this.#port)) {
        const m = r.message as FetchReply;
        if (m.id === id) return [...m.results];
        this.#route(m);
      }
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(this.#flag, 0, seen, left) === "timed-out") {
        return names.map(() => ({ status: "unavailable", reason: `the cache client thread did not answer within ${this.#waitMs * rounds} ms` }));
      }
      seen = Atomics.load(this.#flag, 0);
    }
  }

  /**
   * Fetches artifacts by name like `fetch`, without blocking this thread: for callers on an event
   * loop that must keep turning meanwhile (a `sluice worker` renewing the locks of its other jobs).
   */
  fetchAsync(names: readonly string[]): Promise<FetchResult[]> {
    if (names.length === 0) return Promise.resolve([]);
    const dead = this.#dead;
    if (dead) return Promise.resolve(names.map(() => ({ status: "unavailable", reason: dead })));
    const id = ++this.#nextId;
    const waitMs = this.#waitMs * Math.ceil(names.length / this.#concurrency);
    return new Promise<FetchResult[]>((resolve) => {
      const timer = setTimeout(() => {
        this.#settle(id, names.map(() => ({ status: "unavailable", reason: `the cache client thread did not answer within ${waitMs} ms` })));
      }, waitMs);
      this.#waiting.set(id, {
        names,
        done: (results) => {
          clearTimeout(timer);
          resolve(results);
        },
      });
      this.#port.ref(); // a fetch in flight keeps the process alive until it answers
      this.#port.postMessage({ id, names });
    });
  }

  #route(m: FetchReply): void {
    this.#settle(m.id, [...m.results]);
  }

  #settle(id: number, results: FetchResult[]): void {
    const w = this.#waiting.get(id);
    if (!w) return;
    this.#waiting.delete(id);
    if (this.#waiting.size === 0) this.#port.unref();
    w.done(results);
  }

  /** Uploads objects (each write-once), then the entry, if any, once every object is on the server. */
  upload(objects: readonly UploadItem[], entry?: UploadItem): Promise<UploadReply> {
    const id = ++this.#nextId;
    if (this.#dead) return Promise.resolve({ id, status: "unavailable", reason: this.#dead });
    return new Promise((resolve) => {
      this.#uploads.set(id, resolve);
      this.#worker.ref(); // an upload in flight keeps the process alive until it answers
      this.#worker.postMessage({ id, objects, entry });
    }).finally(() => {
      if (this.#uploads.size === 0) this.#worker.unref();
    }) as Promise<UploadReply>;
  }

  /** Stops the worker thread (uploads still in flight are abandoned: flush first). */
  async close(): Promise<void> {
    this.#port.close();
    await this.#worker.terminate();
  }
}
