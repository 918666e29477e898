import type { MessagePort } from "node:worker_threads";
import { isStep, type AnyStep, type LogLevel, type ModelsClient } from "../define/index.ts";
import { deserializeError, SluiceError, serializeError, type SerializedError } from "../errors.ts";
import type { ProducedOutput, StepTask } from "../scheduler/index.ts";
import { openCacheDb } from "../store/cache-db.ts";
import { LocalCas } from "../store/local-cas.ts";
import { runStepBody } from "./step-io.ts";

/** What the pool sends a worker: plain data and a port for logs and metrics. */
export interface ThreadTaskPayload extends Pick<StepTask, "runId" | "stepId" | "attempt" | "params" | "inputs" | "env"> {
  readonly moduleUrl: string;
  readonly stepName: string;
  readonly cacheDir: string;
  readonly port: MessagePort;
}

/** Messages a worker posts while a step runs. */
export type WorkerMessage =
  | { readonly type: "log"; readonly level: LogLevel; readonly msg: string; readonly data?: Record<string, unknown> }
  | { readonly type: "metric"; readonly name: string; readonly value: number; readonly step?: number }
  | { readonly type: "result"; readonly outputs: Record<string, ProducedOutput> }
  | { readonly type: "call"; readonly id: number; readonly method: keyof ModelsClient; readonly args: unknown[] };

/** The coordinator's answer to a worker's registry call. */
export type CoordinatorReply = { readonly type: "reply"; readonly id: number; readonly ok: true; readonly value: unknown } | { readonly type: "reply"; readonly id: number; readonly ok: false; readonly error: SerializedError };

/** A registry client whose calls travel to the coordinator over the task's port. */
function remoteModels(port: MessagePort): ModelsClient {
  let next = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  port.on("message", (m: CoordinatorReply) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(deserializeError(m.error));
  });
  const call = (method: keyof ModelsClient) => (...args: unknown[]): Promise<any> =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      port.postMessage({ type: "call", id, method, args } satisfies WorkerMessage);
    });
  return { register: call("register"), get: call("get"), champion: call("champion"), promote: call("promote"), read: call("read"), deploy: call("deploy") };
}

// Stack traces of compiled step modules name their .ts sources.
process.setSourceMapsEnabled(true);

const stores = new Map<string, LocalCas>();
const steps = new Map<string, AnyStep>();

async function loadStep(moduleUrl: string, name: string): Promise<AnyStep> {
  const id = `${moduleUrl}#${name}`;
  const hit = steps.get(id);
  if (hit) return hit;
  const mod = (await import(moduleUrl)) as Record<string, unknown>;
  const found = Object.values(mod).find((v): v is AnyStep => isStep(v) && v.name === name);
  if (!found) {
    throw new SluiceError("SLUICE_DEFINITION_INVALID", `step "${name}" is not exported by ${moduleUrl}, so a worker cannot load it. Export the step as a module-level constant.`, { step: name, module: moduleUrl });
  }
  steps.set(id, found);
  return found;
}

function casFor(dir: string): LocalCas {
  let cas = stores.get(dir);
  if (!cas) {
    cas = new LocalCas({ dir, db: openCacheDb(dir) });
    stores.set(dir, cas);
  }
  return cas;
}

/** Piscina entry: runs one step attempt; outputs go back on the task's port (buffers transferred, not copied). */
export default async function runThreadTask(t: ThreadTaskPayload): Promise<unknown> {
  const post = (m: WorkerMessage): void => t.port.postMessage(m);
  try {
    const step = await loadStep(t.moduleUrl, t.stepName);
    const outputs = await runStepBody(step, {
      runId: t.runId, stepId: t.stepId, attempt: t.attempt, params: t.params, inputs: t.inputs, env: t.env,
      signal: new AbortController().signal,
      models: remoteModels(t.port),
      onLog: (level, msg, data) => post({ type: "log", level, msg, ...(data ? { data } : {}) }),
      onMetric: (name, value, step) => post({ type: "metric", name, value, ...(step === undefined ? {} : { step }) }),
    }, casFor(t.cacheDir));
    const transfer: ArrayBuffer[] = [];
    for (const o of Object.values(outputs)) {
      if ("bytes" in o && o.bytes.byteOffset === 0 && o.bytes.byteLength === o.bytes.buffer.byteLength && o.bytes.buffer instanceof ArrayBuffer) transfer.push(o.bytes.buffer);
    }
    // Outputs travel on the task's port so their buffers are moved, never copied.
    t.port.postMessage({ type: "result", outputs } satisfies WorkerMessage, transfer);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: serializeError(err) };
  } finally {
    t.port.close();
  }
}
