// The store worker's thread: writes step rows, logs and metrics to the run database through the
// same Kysely run store the main thread uses (so converting records to SQL rows happens here too),
// and checkpoints the cache database's WAL. Writes run one at a time, in the order posted.
import { parentPort, workerData } from "node:worker_threads";
import { serializeError, SluiceError, type SerializedError } from "../../errors.ts";
import { createSqliteRunStore } from "../run-store/sqlite.ts";
import type { RunStore } from "../run-store/types.ts";
import { STATE, type StoreWorkerInit, type StoreWorkerReply, type StoreWorkerRequest } from "./protocol.ts";
import { WalCheckpointer } from "./wal-checkpointer.ts";

const init = workerData as StoreWorkerInit;
const port = parentPort!;
const post = (reply: StoreWorkerReply): void => port.postMessage(reply);

/** Anything thrown here as a store failure (the run store already throws SLUICE_STORE_FAILED). */
function toWire(err: unknown): SerializedError {
  if (err instanceof SluiceError) return serializeError(err);
  return serializeError(new SluiceError("SLUICE_STORE_FAILED", `store worker › ${init.runsFile}: ${err instanceof Error ? err.message : String(err)}. Check that the run database is writable.`, { path: init.runsFile }));
}

const opening: Promise<RunStore> = createSqliteRunStore(init.runsFile);
opening.then(
  () => {
    Atomics.store(init.state, STATE.ready, 1);
    post({ type: "ready" });
  },
  () => {}, // reported by every write that needed the store
);

const checkpointer =
  init.cacheFile === null
    ? undefined
    : new WalCheckpointer(init.cacheFile, {
        thresholdPages: init.checkpointPages,
        pollMs: init.pollMs,
        onCheckpoint: (report) => post({ type: "checkpoint", ...report }),
        onError: (err) => post({ type: "failed", error: serializeError(err) }),
      });

let queue: Promise<void> = Promise.resolve();

async function write(m: Extract<StoreWorkerRequest, { type: "write" }>): Promise<void> {
  try {
    const store = await opening;
    switch (m.op) {
      case "upsertStepRuns":
        await store.upsertStepRuns(m.items as Parameters<RunStore["upsertStepRuns"]>[0]);
        break;
      case "appendLogs":
        await store.appendLogs(m.items as Parameters<RunStore["appendLogs"]>[0]);
        break;
      case "appendMetrics":
        await store.appendMetrics(m.items as Parameters<RunStore["appendMetrics"]>[0]);
        break;
      default: {
        const never: never = m.op;
        throw new Error(`unknown write ${String(never)}`);
      }
    }
    Atomics.add(init.state, STATE.finished, 1);
    post({ type: "done", id: m.id });
  } catch (err) {
    Atomics.add(init.state, STATE.finished, 1);
    post({ type: "done", id: m.id, error: toWire(err) });
  }
}

/** Closes both connections; the main thread ends the thread once told. */
async function close(): Promise<void> {
  checkpointer?.close();
  await opening.then((s) => s.close()).catch(() => {});
  post({ type: "closed" });
}

port.on("message", (m: StoreWorkerRequest) => {
  queue = queue.then(() => {
    switch (m.type) {
      case "write":
        return write(m);
      case "close":
        return close();
      default: {
        const never: never = m;
        throw new Error(`store worker: unknown request ${JSON.stringify(never)}`);
      }
    }
  });
});
