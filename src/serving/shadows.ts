/**
 * Shadow traffic: a copy of a request scored by a shadow deployment on a later turn of the event
 * loop, after the answer is on its way. The copy's predictions are logged and counted, never
 * returned; a slow or failing shadow cannot slow or fail the request it copies. At most
 * `maxPending` copies wait at once; more are dropped (and counted).
 */
import { performance } from "node:perf_hooks";
import type { SluiceError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { EndpointMetrics } from "./endpoint-metrics.ts";
import { rowGetter } from "./request-rows.ts";
import type { Route, RoutingTable } from "./routing.ts";

/** Sends copies of requests to shadow deployments and tracks the pending ones. */
export class ShadowMirror {
  readonly #metrics: EndpointMetrics;
  readonly #log: Logger;
  readonly #maxPending: number;
  /** Called once a copy is done with its table (the table's in-flight count was raised for it). */
  readonly #release: (table: RoutingTable) => void;
  #pending = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(opts: { metrics: EndpointMetrics; log: Logger; maxPending: number; release: (table: RoutingTable) => void }) {
    this.#metrics = opts.metrics;
    this.#log = opts.log;
    this.#maxPending = opts.maxPending;
    this.#release = opts.release;
  }

  /** Copies `rows` to `shadow` of `table`; raises the table's in-flight count until the copy is scored. */
  mirror(table: RoutingTable, shadow: Route, rows: readonly unknown[]): void {
    const { endpoint } = table;
    const d = shadow.deployment;
    if (this.#pending >= this.#maxPending) {
      this.#metrics.dropped(endpoint, d.deployment);
      return;
    }
    this.#pending++;
    table.inFlight++;
    setImmediate(() => {
      const started = performance.now();
      Promise.resolve()
        .then(() => shadow.model.score(rows.length, rowGetter(rows, shadow, endpoint), `endpoint "${endpoint}" › shadow "${d.deployment}"`))
        .then(
          (predictions) => {
            this.#metrics.observe(endpoint, d.deployment, "shadow", "ok", rows.length, performance.now() - started);
            this.#log.info({ endpoint, deployment: d.deployment, model: d.model, version: d.version, predictions }, "shadow answered");
          },
          (err: unknown) => {
            this.#metrics.observe(endpoint, d.deployment, "shadow", (err as SluiceError).code === "SLUICE_DATA_INVALID" ? "invalid" : "error", rows.length, performance.now() - started);
            this.#log.warn({ endpoint, deployment: d.deployment, err }, "shadow failed");
          },
        )
        .finally(() => {
          this.#pending--;
          this.#release(table);
          if (this.#pending === 0) for (const wake of this.#waiters.splice(0)) wake();
        });
    });
  }

  /** Resolves when no copy is pending. */
  settled(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
