/**
 * Checks at the door of the model registry: every problem of an argument is collected, then one
 * `SLUICE_PARAMS_INVALID` names each field (`deployments[1].trafficPercent`) and the fix.
 */
import { SluiceError } from "../../errors.ts";
import { isDigest } from "../../util/canonical-json.ts";
import type { DeploymentSpec, NewModelVersion } from "./registry-types.ts";

/** Model, endpoint and deployment names: safe in URLs, file names and metric labels. */
export const REGISTRY_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** One problem with an argument: the field's path and what is wrong with it. */
interface Problem {
  field: string;
  message: string;
}

function show(value: unknown): string {
  if (value === undefined) return "undefined";
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** True for an integer ≥ 1: a model version. */
export function isVersion(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 1;
}

function isTime(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function checkName(problems: Problem[], field: string, value: unknown): void {
  if (typeof value !== "string" || !REGISTRY_NAME_PATTERN.test(value)) {
    problems.push({
      field,
      message: `must be 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit, got ${show(value)}`,
    });
  }
}

function checkTime(problems: Problem[], field: string, value: unknown): void {
  if (!isTime(value)) problems.push({ field, message: `must be a time in epoch milliseconds (an integer ≥ 0), got ${show(value)}` });
}

function checkStringMap(problems: Problem[], field: string, value: unknown): void {
  if (!isRecord(value)) {
    problems.push({ field, message: `must be an object of strings, got ${show(value)}` });
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") problems.push({ field: `${field}.${k}`, message: `must be a string, got ${show(v)}` });
  }
}

/** Throws one `SLUICE_PARAMS_INVALID` listing every problem, when there are any. */
function throwIfAny(where: string, problems: readonly Problem[], fix: string): void {
  if (problems.length === 0) return;
  const list = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
  throw new SluiceError("SLUICE_PARAMS_INVALID", `${where}: ${list}. ${fix}`, {
    field: problems[0]!.field,
    problems: problems.map((p) => ({ ...p })),
  });
}

/** Checks a registration; throws `SLUICE_PARAMS_INVALID` naming every bad field. */
export function checkNewModelVersion(m: NewModelVersion): void {
  const problems: Problem[] = [];
  checkName(problems, "name", m.name);
  if (!isDigest(m.digest)) problems.push({ field: "digest", message: `must be a "sha256:<64 hex digits>" digest of the ONNX bytes, got ${show(m.digest)}` });
  if (!isRecord(m.metrics)) problems.push({ field: "metrics", message: `must be an object of numbers, got ${show(m.metrics)}` });
  else {
    for (const [k, v] of Object.entries(m.metrics)) {
      if (typeof v !== "number" || !Number.isFinite(v)) problems.push({ field: `metrics.${k}`, message: `must be a finite number, got ${show(v)}` });
    }
  }
  if (m.tags !== undefined) checkStringMap(problems, "tags", m.tags);
  checkTime(problems, "createdAt", m.createdAt);
  const l: unknown = m.lineage;
  if (!isRecord(l)) problems.push({ field: "lineage", message: `must be an object (runId, stepId, pipeline, inputs, params, codeDigest), got ${show(l)}` });
  else {
    for (const key of ["runId", "stepId", "pipeline"] as const) {
      if (typeof l[key] !== "string" || l[key] === "") problems.push({ field: `lineage.${key}`, message: `must be a non-empty string, got ${show(l[key])}` });
    }
    checkStringMap(problems, "lineage.inputs", l.inputs);
    if (l.codeDigest !== null && typeof l.codeDigest !== "string") {
      problems.push({ field: "lineage.codeDigest", message: `must be a string or null, got ${show(l.codeDigest)}` });
    }
  }
  const label = typeof m.name === "string" ? ` › model "${m.name}"` : "";
  throwIfAny(`model registry › register${label}`, problems, "Fix these fields of the registration.");
}

/** Checks a promotion's arguments; throws `SLUICE_PARAMS_INVALID` naming every bad field. */
export function checkPromotion(name: string, version: number, at: number): void {
  const problems: Problem[] = [];
  checkName(problems, "name", name);
  if (!isVersion(version)) problems.push({ field: "version", message: `must be an integer ≥ 1, got ${show(version)}` });
  checkTime(problems, "at", at);
  throwIfAny("model registry › promote", problems, "Pass a registered model name and version.");
}

/**
 * Checks an endpoint's desired deployments: names, versions, whole-percent shares from 0 to 100
 * summing to 100 over the non-shadow deployments (an empty list is allowed: it removes them all).
 */
export function checkDeployments(endpoint: string, deployments: readonly DeploymentSpec[], at: number): void {
  const problems: Problem[] = [];
  checkName(problems, "endpoint", endpoint);
  checkTime(problems, "at", at);
  if (!Array.isArray(deployments)) {
    problems.push({ field: "deployments", message: `must be an array, got ${show(deployments)}` });
  } else {
    const seen = new Map<string, number>();
    let sum = 0;
    let sumIsKnown = true;
    const shares: string[] = [];
    deployments.forEach((d: DeploymentSpec, i) => {
      const field = `deployments[${i}]`;
      if (!isRecord(d)) {
        problems.push({ field, message: `must be an object (deployment, model, version, trafficPercent, shadow), got ${show(d)}` });
        sumIsKnown = false;
        return;
      }
      checkName(problems, `${field}.deployment`, d.deployment);
      const first = seen.get(d.deployment);
      if (first !== undefined) problems.push({ field: `${field}.deployment`, message: `"${d.deployment}" is already used by deployments[${first}]; names must be unique` });
      else seen.set(d.deployment, i);
      checkName(problems, `${field}.model`, d.model);
      if (!isVersion(d.version)) problems.push({ field: `${field}.version`, message: `must be an integer ≥ 1, got ${show(d.version)}` });
      if (d.shadow !== undefined && typeof d.shadow !== "boolean") problems.push({ field: `${field}.shadow`, message: `must be true or false, got ${show(d.shadow)}` });
      const pct: unknown = d.trafficPercent;
      if (typeof pct !== "number" || !Number.isInteger(pct) || pct < 0 || pct > 100) {
        problems.push({ field: `${field}.trafficPercent`, message: `must be a whole number from 0 to 100, got ${show(pct)}` });
        if (d.shadow !== true) sumIsKnown = false;
      } else if (d.shadow !== true) {
        sum += pct;
        shares.push(`${d.deployment} ${pct}`);
      }
    });
    if (deployments.length > 0 && sumIsKnown && sum !== 100) {
      const detail = shares.length === 0 ? "every deployment is a shadow" : `${shares.join(" + ")} = ${sum}`;
      problems.push({
        field: "deployments[].trafficPercent",
        message: `the non-shadow traffic shares must sum to 100, got ${sum} (${detail})`,
      });
    }
  }
  const label = typeof endpoint === "string" ? ` › endpoint "${endpoint}"` : "";
  throwIfAny(`model registry › setDeployments${label}`, problems, "Fix these deployments; shadows are left out of the traffic sum.");
}
