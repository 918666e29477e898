import { isMainThread, MessageChannel, parentPort, type MessagePort } from "node:worker_threads";
import { move, transferableSymbol, valueSymbol } from "piscina";
import { isStep, type AnyStep, type LogLevel, type ModelsClient } from "../define/index.ts";
import { deserializeError, SluiceError, serializeError, type SerializedError } from "../errors.ts";
import type { ProducedOutput, StepTask } from "../scheduler/index.ts";
import { openCacheDb } from "../store/cache-db.ts";
import { LocalCas } from "../store/local-cas.ts";
import { importModule } from "../util/import-module.ts";
import { runStepBody } from "./step-io.ts";

/** What the pool sends a worker: plain data, and the attempt's key for the messages it posts back. */
export interface ThreadTaskPayload extends Pick<StepTask, "runId" | "stepId" | "attempt" | "params" | "inputs" | "env"> {
  readonly key: number;
  readonly moduleUrl: string;
  readonly stepName: string;
  readonly cacheDir: string;
}

/** What a task returns (output buffers moved, not copied), with how many messages it posted on the thread's channel first. */
export type ThreadTaskResult = ({ readonly ok: true; readonly outputs: Record<string, ProducedOutput>; readonly runMs: number } | { readonly ok: false; readonly error: SerializedError }) & { readonly messages: number };

/** Messages a worker posts on its thread's one channel while a step runs, tagged with the attempt's key. */
export type WorkerMessage = { readonly key: number } & (
  | { readonly type: "log"; readonly level: LogLevel; readonly msg: string; readonly data?: Record<string, unknown> }
  | { readonly type: "metric"; readonly name: string; readonly value: number; readonly step?: number }
  /** The attempt's first registry call: the port its calls and replies travel on from then on. */
  | { readonly type: "port"; readonly port: MessagePort }
);

/** A registry call, on the attempt's own port. */
export interface CallMessage { readonly type: "call"; readonly id: number; readonly method: keyof ModelsClient; readonly args: unknown[] }

/** The coordinator's answer to a worker's registry call. */
export type CoordinatorReply = { readonly type: "reply"; readonly id: number; readonly ok: true; readonly value: unknown } | { readonly type: "reply"; readonly id: number; readonly ok: false; readonly error: SerializedError };

/** A registry client whose calls travel to the coordinator over a port made at the first call (most steps make none). */
function remoteModels(openPort: () => MessagePort): ModelsClient {
  let next = 0;
  let port: MessagePort | undefined;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  const call = (method: keyof ModelsClient) => (...args: unknown[]): Promise<any> =>
    new Promise((resolve, reject) => {
      if (!port) {
        port = openPort();
        port.on("message", (m: CoordinatorReply) => {
          const p = pending.get(m.id);
          if (!p) return;
          pending.delete(m.id);
          if (m.ok) p.resolve(m.value);
          else p.reject(deserializeError(m.error));
        });
      }
      const id = next++;
      pending.set(id, { resolve, reject });
      port.postMessage({ type: "call", id, method, args } satisfies CallMessage);
    });
  return { register: call("register"), get: call("get"), champion: call("champion"), promote: call("promote"), read: call("read"), deploy: call("deploy") };
}

// Stack traces of compiled step modules name their .ts sources. Only on a pool thread: this module
// is also in the bundle the main thread loads (dist/sluice.cjs).
if (!isMainThread) process.setSourceMapsEnabled(true);

const stores = new Map<string, LocalCas>();
const steps = new Map<string, AnyStep>();

async function loadStep(moduleUrl: string, name: string): Promise<AnyStep> {
  const id = `${moduleUrl}#${name}`;
  const hit = steps.get(id);
  if (hit) return hit;
  const mod = await importModule(moduleUrl);
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

/** Piscina entry: runs one step attempt; logs and metrics go on the thread's channel, outputs come back as the result (buffers moved, not copied). */
export default async function runThreadTask(t: ThreadTaskPayload): Promise<unknown> {
  let messages = 0;
  let port: MessagePort | undefined;
  const post = (m: WorkerMessage, transfer?: MessagePort[]): void => {
    // Counted after it is sent: a message that cannot be cloned throws here and must not be waited for.
    parentPort!.postMessage(m, transfer);
    messages++;
  };
  const openPort = (): MessagePort => {
    const { port1, port2 } = new MessageChannel();
    port = port1;
    post({ key: t.key, type: "port", port: port2 }, [port2]);
    return port1;
  };
  try {
    const step = await loadStep(t.moduleUrl, t.stepName);
    const started = performance.now();
    const outputs = await runStepBody(step, {
      runId: t.runId, stepId: t.stepId, attempt: t.attempt, params: t.params, inputs: t.inputs, env: t.env,
      signal: new AbortController().signal,
      models: remoteModels(openPort),
      onLog: (level, msg, data) => post({ key: t.key, type: "log", level, msg, ...(data ? { data } : {}) }),
      onMetric: (name, value, step) => post({ key: t.key, type: "metric", name, value, ...(step === undefined ? {} : { step }) }),
    }, casFor(t.cacheDir));
    const transfer: ArrayBuffer[] = [];
    for (const o of Object.values(outputs)) {
      if ("bytes" in o && o.bytes.byteOffset === 0 && o.bytes.byteLength === o.bytes.buffer.byteLength && o.bytes.buffer instanceof ArrayBuffer) transfer.push(o.bytes.buffer);
    }
    const result: ThreadTaskResult = { ok: true, outputs, messages, runMs: performance.now() - started };
    return move({ [transferableSymbol]: transfer, [valueSymbol]: result } as never);
  } catch (err) {
    return { ok: false, error: serializeError(err), messages } satisfies ThreadTaskResult;
  } finally {
    port?.close();
  }
}
