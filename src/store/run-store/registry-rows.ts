/**
 * Record ⇄ row conversion for the model registry: JSON fields to TEXT (canonical, so equal
 * records give equal rows) and back, integers read back with `Number()` (PostgreSQL returns
 * `bigint` as a string), booleans as 0/1.
 */
import type { Insertable, Selectable } from "kysely";
import { canonicalJson } from "../../util/canonical-json.ts";
import type { DeploymentsTable, ModelsTable } from "./schema.ts";
import type { Deployment, DeploymentSpec, ModelLineage, ModelStage, ModelVersion, NewModelVersion } from "./registry-types.ts";

/** A `models` row to insert, every column present (also readable as a selected row). */
export type ModelRow = Required<Insertable<ModelsTable>>;

/** A `deployments` row to insert, every column present (also readable as a selected row). */
export type DeploymentRow = Required<Insertable<DeploymentsTable>>;

/** A new version's `models` row: a candidate, its stage set at registration. */
export function toModelRow(m: NewModelVersion, version: number): ModelRow {
  return {
    name: m.name,
    version,
    digest: m.digest,
    metrics: canonicalJson(m.metrics),
    signature: canonicalJson(m.signature),
    stage: "candidate" satisfies ModelStage,
    lineage: canonicalJson(m.lineage),
    tags: canonicalJson(m.tags ?? {}),
    created_at: m.createdAt,
    stage_updated_at: m.createdAt,
  };
}

/** A `models` row as a model version. */
export function fromModelRow(row: Selectable<ModelsTable>): ModelVersion {
  return {
    name: row.name,
    version: Number(row.version),
    digest: row.digest,
    metrics: JSON.parse(row.metrics) as Record<string, number>,
    signature: JSON.parse(row.signature) as unknown,
    stage: row.stage as ModelStage,
    lineage: JSON.parse(row.lineage) as ModelLineage,
    createdAt: Number(row.created_at),
    stageUpdatedAt: Number(row.stage_updated_at),
    tags: JSON.parse(row.tags) as Record<string, string>,
  };
}

/** A deployment spec as a `deployments` row of `endpoint`, updated at `at`. */
export function toDeploymentRow(endpoint: string, d: DeploymentSpec, at: number): DeploymentRow {
  return {
    endpoint,
    deployment: d.deployment,
    model: d.model,
    version: d.version,
    traffic_percent: d.trafficPercent,
    shadow: d.shadow === true ? 1 : 0,
    updated_at: at,
  };
}

/** A `deployments` row as a deployment. */
export function fromDeploymentRow(row: Selectable<DeploymentsTable>): Deployment {
  return {
    endpoint: row.endpoint,
    deployment: row.deployment,
    model: row.model,
    version: Number(row.version),
    trafficPercent: Number(row.traffic_percent),
    shadow: Number(row.shadow) === 1,
    updatedAt: Number(row.updated_at),
  };
}

/** Code-unit order, the same on every database (pg collations would differ from SQLite's). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Newest first: by `createdAt`, then version, then name. */
export function newestFirst(a: ModelVersion, b: ModelVersion): number {
  return b.createdAt - a.createdAt || b.version - a.version || compareStrings(a.name, b.name);
}

/** By endpoint, then deployment name. */
export function byEndpointThenName(a: Deployment, b: Deployment): number {
  return compareStrings(a.endpoint, b.endpoint) || compareStrings(a.deployment, b.deployment);
}
