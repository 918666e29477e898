/**
 * A traffic change turned into the endpoint's next deployments, checked before anything is
 * loaded or written: deployment names that exist, and non-shadow shares that add up to 100.
 */
import { SluiceError } from "../errors.ts";
import type { Deployment, DeploymentSpec } from "../store/run-store/index.ts";

/** A change of an endpoint's traffic: new shares of existing deployments, or the whole set. */
export interface TrafficChange {
  /** Deployment name → whole percent; deployments left out keep their share. */
  readonly shares?: Readonly<Record<string, number>>;
  /** Replaces every deployment (deploys other versions); an empty list removes the endpoint. */
  readonly deployments?: readonly DeploymentSpec[];
}

/** The deployments `change` asks for, given the endpoint's `current` ones. */
export function planTraffic(endpoint: string, current: readonly Deployment[], change: TrafficChange): DeploymentSpec[] {
  let specs: DeploymentSpec[];
  if (change.deployments) specs = change.deployments.map((d) => ({ ...d }));
  else {
    if (current.length === 0) throw new SluiceError("SLUICE_ENDPOINT_NOT_FOUND", `endpoint "${endpoint}": no deployment serves it, so there are no shares to change. Send "deployments" to deploy model versions to it.`, { endpoint });
    const shares = change.shares ?? {};
    const unknown = Object.keys(shares).filter((k) => !current.some((d) => d.deployment === k));
    if (unknown.length > 0) throw new SluiceError("SLUICE_PARAMS_INVALID", `endpoint "${endpoint}": no deployment named ${unknown.map((u) => `"${u}"`).join(", ")} (it has ${current.map((d) => `"${d.deployment}"`).join(", ")}). Name existing deployments, or send "deployments".`, { field: `shares/${unknown[0]}` });
    specs = current.map((d) => ({ deployment: d.deployment, model: d.model, version: d.version, shadow: d.shadow, trafficPercent: shares[d.deployment] ?? d.trafficPercent }));
  }
  const serving = specs.filter((d) => !d.shadow);
  const total = serving.reduce((a, d) => a + d.trafficPercent, 0);
  if (specs.length > 0 && total !== 100) {
    throw new SluiceError("SLUICE_PARAMS_INVALID", `endpoint "${endpoint}": the non-shadow shares add up to ${total}%, not 100% (${serving.map((d) => `${d.deployment} ${d.trafficPercent}%`).join(", ")}). Adjust the shares.`, { field: "shares" });
  }
  return specs;
}
