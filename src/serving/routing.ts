/**
 * Routing of an endpoint's requests: an immutable table of its deployments (with their loaded
 * models), a weighted pick by traffic share, and a stable pick by a sticky key. A new table
 * replaces the old one in one assignment, so a request sees one table from start to end.
 */
import { createHash } from "node:crypto";
import type { Deployment } from "../store/run-store/index.ts";
import type { LoadedModel } from "./model-cache.ts";

/** A deployment with its model loaded, ready to score. */
export interface Route {
  readonly deployment: Deployment;
  readonly model: LoadedModel;
}

/** Every deployment of one endpoint, split into those that answer and those that shadow. */
export interface RoutingTable {
  readonly endpoint: string;
  /** Every deployment, by name, including those with a 0 % share (loaded, so a shift back is instant). */
  readonly routes: readonly Route[];
  /** Deployments with a share of the traffic, in name order (shares sum to 100). */
  readonly primary: readonly Route[];
  /** Upper bound of each primary's interval on [0, 100), same order as `primary`. */
  readonly cumulative: readonly number[];
  readonly shadows: readonly Route[];
  /** What the table was built from, to tell whether the registry changed. */
  readonly fingerprint: string;
  /** Requests (and shadow copies) still using this table. */
  inFlight: number;
}

/** A stable text for a set of deployments (what routing depends on). */
export function deploymentsFingerprint(ds: readonly Deployment[]): string {
  return JSON.stringify(ds.map((d) => [d.deployment, d.model, d.version, d.trafficPercent, d.shadow]));
}

/** Builds a routing table; `routes` are the endpoint's deployments with loaded models. */
export function createRoutingTable(endpoint: string, routes: readonly Route[]): RoutingTable {
  const primary = routes.filter((r) => !r.deployment.shadow && r.deployment.trafficPercent > 0);
  const cumulative: number[] = [];
  let sum = 0;
  for (const r of primary) cumulative.push((sum += r.deployment.trafficPercent));
  return {
    endpoint,
    routes,
    primary,
    cumulative,
    shadows: routes.filter((r) => r.deployment.shadow && r.deployment.trafficPercent > 0),
    fingerprint: deploymentsFingerprint(routes.map((r) => r.deployment)),
    inFlight: 0,
  };
}

/**
 * A point in [0, 100) fixed by `key`: the first 48 bits of its SHA-256. The same key always
 * gives the same point, so it lands on the same deployment while the shares stay the same.
 */
export function stickyPoint(key: string): number {
  const h = createHash("sha256").update(key).digest();
  return (h.readUIntBE(0, 6) / 2 ** 48) * 100;
}

/** The primary route whose share interval holds `point` (in [0, 100)), or undefined when none serves. */
export function routeAt(table: RoutingTable, point: number): Route | undefined {
  const { cumulative, primary } = table;
  for (let k = 0; k < cumulative.length; k++) if (point < cumulative[k]!) return primary[k];
  return primary.at(-1);
}
