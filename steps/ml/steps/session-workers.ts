/**
 * Scoring on several threads: onnxruntime-node runs a session's inference on the calling
 * thread, so sessions on one thread score one after another. This starts short-lived worker
 * threads, each with its own session (one intra-op thread), and hands them row chunks as they
 * become free.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { PlainTensor } from "./onnx-io.ts";

// CommonJS, so the worker needs no loader; onnxruntime-node is resolved from this module.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const ort = require(workerData.ort);
const plain = (t) => ({ type: t.type, data: t.data, dims: t.dims });
ort.InferenceSession.create(workerData.model, { intraOpNumThreads: 1, interOpNumThreads: 1 }).then((session) => {
  parentPort.on("message", async (m) => {
    try {
      const feeds = {};
      for (const [k, t] of Object.entries(m.feeds)) feeds[k] = new ort.Tensor(t.type, t.data, t.dims);
      const out = await session.run(feeds);
      const res = {};
      for (const [k, t] of Object.entries(out)) res[k] = plain(t);
      parentPort.postMessage({ ok: true, out: res });
    } catch (e) {
      parentPort.postMessage({ ok: false, error: String((e && e.message) || e) });
    }
  });
  parentPort.postMessage({ ok: true, ready: true });
}, (e) => parentPort.postMessage({ ok: false, error: String((e && e.message) || e) }));
`;

interface Reply {
  readonly ok: boolean;
  readonly ready?: boolean;
  readonly out?: Record<string, PlainTensor>;
  readonly error?: string;
}

function next(w: Worker): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    w.once("error", onError);
    w.once("message", (m: Reply) => {
      w.off("error", onError);
      if (m.ok) resolve(m);
      else reject(new Error(`onnxruntime-node: ${m.error}`));
    });
  });
}

/**
 * Runs `model` on every chunk's feeds with up to `threads` worker threads; results come back in
 * chunk order. The workers are terminated when all chunks are done or one fails.
 */
export async function scoreOnThreads(model: Uint8Array, chunks: readonly Record<string, PlainTensor>[], threads: number): Promise<Record<string, PlainTensor>[]> {
  const ort = createRequire(import.meta.url).resolve("onnxruntime-node");
  const results = new Array<Record<string, PlainTensor>>(chunks.length);
  const workers: Worker[] = [];
  let cursor = 0;
  try {
    const count = Math.max(1, Math.min(threads, chunks.length));
    await Promise.all(Array.from({ length: count }, async () => {
      const w = new Worker(WORKER, { eval: true, workerData: { ort, model } });
      workers.push(w);
      await next(w);
      while (cursor < chunks.length) {
        const i = cursor++;
        const reply = next(w);
        w.postMessage({ feeds: chunks[i] });
        results[i] = (await reply).out!;
      }
    }));
    return results;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
