/**
 * Per-deployment request counts, errors and latency: as Prometheus metrics on the registry the
 * server passes in (served at `/metrics`), and as a plain snapshot for the endpoints API.
 */
import { Counter, Histogram, type Registry } from "prom-client";

/** Whether a request was answered by the deployment or mirrored to it as a shadow. */
export type TrafficKind = "primary" | "shadow";

/** How a request ended: answered, rejected for bad rows (the client's fault), or failed. */
export type Outcome = "ok" | "invalid" | "error";

/** Latency bucket bounds in seconds (Prometheus convention); the snapshot shows them in ms. */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10] as const;

/** One deployment's counts since the service started. */
export interface DeploymentStats {
  readonly requests: number;
  /** Requests that failed in the service (model load or run). */
  readonly errors: number;
  /** Requests rejected for bad rows (answered 400). */
  readonly invalid: number;
  readonly rows: number;
  /** Shadow copies received, and how many failed (their answers are logged, never returned). */
  readonly shadowRequests: number;
  readonly shadowErrors: number;
  /** Shadow copies not sent because too many were pending. */
  readonly shadowDropped: number;
  /** Latency of answered requests: count, mean, and cumulative counts per bucket bound. */
  readonly latency: { readonly count: number; readonly meanMs: number; readonly buckets: ReadonlyArray<{ readonly leMs: number; readonly count: number }> };
}

interface Tally {
  requests: number;
  errors: number;
  invalid: number;
  rows: number;
  shadowRequests: number;
  shadowErrors: number;
  shadowDropped: number;
  latencyCount: number;
  latencySumMs: number;
  buckets: number[];
}

function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** Counters and histograms of the endpoints, one label set per (endpoint, deployment, kind). */
export class EndpointMetrics {
  readonly #requests: Counter<"endpoint" | "deployment" | "kind" | "outcome">;
  readonly #latency: Histogram<"endpoint" | "deployment" | "kind">;
  readonly #tallies = new Map<string, Tally>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.#requests = metric(registry, "sluice_endpoint_requests_total", () => new Counter({ name: "sluice_endpoint_requests_total", help: "Scoring requests by endpoint, deployment, kind (primary or shadow) and outcome (ok, invalid rows, error, dropped shadow copy).", labelNames: ["endpoint", "deployment", "kind", "outcome"], registers }));
    this.#latency = metric(registry, "sluice_endpoint_request_duration_seconds", () => new Histogram({ name: "sluice_endpoint_request_duration_seconds", help: "Time to score a request, by endpoint, deployment and kind.", labelNames: ["endpoint", "deployment", "kind"], buckets: [...LATENCY_BUCKETS_S], registers }));
  }

  #tally(endpoint: string, deployment: string): Tally {
    const key = `${endpoint}\u0000${deployment}`;
    let t = this.#tallies.get(key);
    if (!t) {
      t = { requests: 0, errors: 0, invalid: 0, rows: 0, shadowRequests: 0, shadowErrors: 0, shadowDropped: 0, latencyCount: 0, latencySumMs: 0, buckets: LATENCY_BUCKETS_S.map(() => 0) };
      this.#tallies.set(key, t);
    }
    return t;
  }

  /** Records one scored (or failed) request of `rows` rows that took `ms`. */
  observe(endpoint: string, deployment: string, kind: TrafficKind, outcome: Outcome, rows: number, ms: number): void {
    const t = this.#tally(endpoint, deployment);
    if (kind === "primary") {
      t.requests++;
      if (outcome === "error") t.errors++;
      if (outcome === "invalid") t.invalid++;
      t.rows += rows;
      t.latencyCount++;
      t.latencySumMs += ms;
      const s = ms / 1000;
      for (let k = 0; k < LATENCY_BUCKETS_S.length; k++) if (s <= LATENCY_BUCKETS_S[k]!) t.buckets[k]!++;
    } else {
      t.shadowRequests++;
      if (outcome !== "ok") t.shadowErrors++;
    }
    this.#requests.inc({ endpoint, deployment, kind, outcome });
    this.#latency.observe({ endpoint, deployment, kind }, ms / 1000);
  }

  /** Records a shadow copy left unsent because too many were pending. */
  dropped(endpoint: string, deployment: string): void {
    this.#tally(endpoint, deployment).shadowDropped++;
    this.#requests.inc({ endpoint, deployment, kind: "shadow", outcome: "dropped" });
  }

  /** A snapshot of one deployment's counts (zeros when it has seen nothing). */
  snapshot(endpoint: string, deployment: string): DeploymentStats {
    const t = this.#tally(endpoint, deployment);
    return {
      requests: t.requests,
      errors: t.errors,
      invalid: t.invalid,
      rows: t.rows,
      shadowRequests: t.shadowRequests,
      shadowErrors: t.shadowErrors,
      shadowDropped: t.shadowDropped,
      latency: {
        count: t.latencyCount,
        meanMs: t.latencyCount === 0 ? 0 : t.latencySumMs / t.latencyCount,
        buckets: LATENCY_BUCKETS_S.map((s, k) => ({ leMs: s * 1000, count: t.buckets[k]! })),
      },
    };
  }
}
