// The remote cache's HTTP side, on its own thread: the coordinator asks for artifacts synchronously
// (its cache lookups are synchronous) and blocks on a shared flag while this thread streams them.
// Uploads arrive as ordinary messages and run in the background. Node built-ins only, so the
// bundle and the source tree load it the same way.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, rmSync, statSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { parentPort, workerData } from "node:worker_threads";
import type { FetchReply, FetchRequest, FetchResult, UploadItem, UploadJob, UploadReply, WorkerInit } from "./protocol.ts";

const init = workerData as WorkerInit;
const headers: Record<string, string> = init.token ? { authorization: `Bearer ${init.token}` } : {};

/** A failure of the server or the network: any answer but 200/404, a refused connection, a timeout. */
class Unavailable extends Error {}

/** An entry that cannot be shared (an object it names is nowhere to upload from); the server is fine. */
class NotShareable extends Error {}

function artifactUrl(name: string): string {
  return `${init.url}/v8/artifacts/${encodeURIComponent(name)}?${init.teamQuery}`;
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError") return `no answer within ${init.timeoutMs} ms`;
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

async function request(method: "GET" | "HEAD" | "PUT", name: string, init2: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(artifactUrl(name), { method, headers, signal: AbortSignal.timeout(init.timeoutMs), ...init2 });
  } catch (err) {
    throw new Unavailable(`${method} ${name}: ${describe(err)}`);
  }
}

/** Runs `fn` over items with at most `limit` at once. */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

/** Writes all of `buf` (a write may take fewer bytes than asked, e.g. on a full disk). */
async function writeAll(file: FileHandle, buf: Uint8Array): Promise<void> {
  for (let at = 0; at < buf.byteLength; ) {
    const { bytesWritten } = await file.write(buf, at, buf.byteLength - at);
    if (bytesWritten <= 0) throw new Error(`a write took no bytes (${buf.byteLength - at} left)`);
    at += bytesWritten;
  }
}

/** GET one artifact: hashed as it streams; small bodies kept in memory, larger ones spilled to a temp file. */
async function fetchOne(name: string): Promise<FetchResult> {
  const res = await request("GET", name);
  if (res.status === 404) {
    await res.body?.cancel();
    return { status: "miss" };
  }
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    throw new Unavailable(`GET ${name}: HTTP ${res.status}`);
  }
  const hash = createHash("sha256");
  const chunks: Buffer[] = [];
  let size = 0;
  let file: FileHandle | undefined;
  let path: string | undefined;
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      size += chunk.byteLength;
      if (!file && size > init.inlineMaxBytes) {
        path = join(init.tmpDir, `${process.pid}-remote-${randomBytes(8).toString("hex")}`);
        file = await open(path, "wx", 0o444);
        for (const c of chunks.splice(0)) await writeAll(file, c);
      }
      if (file) await writeAll(file, chunk);
      else chunks.push(Buffer.from(chunk));
    }
    if (file) {
      // The hash covers what arrived; the file must hold exactly that before it is adopted as verified.
      const written = (await file.stat()).size;
      if (written !== size) throw new Error(`the spilled file holds ${written} of ${size} bytes`);
      await file.sync();
      await file.close();
      file = undefined;
      return { status: "hit", sha256: hash.digest("hex"), size, path: path! };
    }
    return { status: "hit", sha256: hash.digest("hex"), size, bytes: Buffer.concat(chunks) };
  } catch (err) {
    await file?.close().catch(() => undefined);
    if (path) rmSync(path, { force: true });
    throw new Unavailable(`GET ${name}: body broke off: ${describe(err)}`);
  }
}

async function fetchMany(req: FetchRequest): Promise<FetchReply> {
  const results: FetchResult[] = new Array(req.names.length);
  let down: string | undefined;
  await eachLimit(req.names, init.concurrency, async (name, i) => {
    if (down) {
      results[i] = { status: "unavailable", reason: down };
      return;
    }
    try {
      results[i] = await fetchOne(name);
    } catch (err) {
      down ??= (err as Error).message;
      results[i] = { status: "unavailable", reason: (err as Error).message };
    }
  });
  // Spilled files of a request that failed part-way are never adopted: remove them.
  if (down) for (const r of results) if (r?.status === "hit" && "path" in r) rmSync(r.path, { force: true });
  return { id: req.id, results: down ? results.map(() => ({ status: "unavailable", reason: down! })) : results };
}

/** Write-once: HEAD first; PUT only when the server answers 404. Returns whether it wrote. */
async function putOnce(item: UploadItem): Promise<boolean> {
  const head = await request("HEAD", item.name);
  await head.body?.cancel();
  if (head.status === 200) return false;
  if (head.status !== 404) throw new Unavailable(`HEAD ${item.name}: HTTP ${head.status}`);
  if ("onServer" in item) throw new NotShareable(`${item.name} is neither in this cache nor on the server`);
    let body: RequestInit["body"];
  let length: number;
  if ("bytes" in item) {
    body = item.bytes as Uint8Array<ArrayBuffer>;
    length = item.bytes.byteLength;
  } else {
    body = Readable.toWeb(createReadStream(item.path)) as unknown as RequestInit["body"];
    length = item.size;
  }
  const res = await request("PUT", item.name, {
    body,
    // A server configured to keep Turborepo's artifact signatures (TURBO_REMOTE_CACHE_SIGNATURE_KEY)
    // answers 404 for an artifact stored without a tag. sluice checks its own digests and HMACs,
    // so the tag is only a marker; it is never trusted.
    headers: { ...headers, "content-type": "application/octet-stream", "content-length": String(length), "x-artifact-tag": "sluice" },
    ...({ duplex: "half" } as object),
  });
  await res.body?.cancel();
  if (res.status !== 200) throw new Unavailable(`PUT ${item.name}: HTTP ${res.status}`);
  return true;
}

let uploadsRunning = 0;
const uploadWaiters: Array<() => void> = [];

async function withUploadSlot<T>(fn: () => Promise<T>): Promise<T> {
  while (uploadsRunning >= init.concurrency) await new Promise<void>((r) => uploadWaiters.push(r));
  uploadsRunning++;
  try {
    return await fn();
  } finally {
    uploadsRunning--;
    uploadWaiters.shift()?.();
  }
}

async function upload(job: UploadJob): Promise<UploadReply> {
  if (init.readOnly) return { id: job.id, status: "skipped", reason: "read-only mode" };
  // A local file removed meanwhile (cache prune) makes the entry unshareable, not the server unavailable.
  for (const o of job.objects) {
    if ("path" in o) {
      try {
        statSync(o.path);
      } catch {
        return { id: job.id, status: "skipped", reason: `local object ${o.name} disappeared before upload` };
      }
    }
  }
  let put = 0;
  let present = 0;
  try {
    const wrote = await Promise.all(job.objects.map((o) => withUploadSlot(() => putOnce(o))));
    for (const w of wrote) if (w) put++;
    else present++;
    // The entry goes last: a reader that finds it also finds every object it names.
    const entry = job.entry;
    if (entry && (await withUploadSlot(() => putOnce(entry)))) put++;
    else if (entry) present++;
    return { id: job.id, status: "done", put, present };
  } catch (err) {
    if (err instanceof NotShareable) return { id: job.id, status: "skipped", reason: err.message };
    return { id: job.id, status: "unavailable", reason: err instanceof Unavailable ? err.message : describe(err) };
  }
}

init.syncPort.on("message", (req: FetchRequest) => {
  void fetchMany(req).then((reply) => {
    init.syncPort.postMessage(reply);
    Atomics.add(init.flag, 0, 1);
    Atomics.notify(init.flag, 0);
  });
});
// The blocking channel is read with receiveMessageOnPort; the listener above only receives requests.

parentPort!.on("message", (job: UploadJob) => {
  void upload(job).then((reply) => parentPort!.postMessage(reply));
});
