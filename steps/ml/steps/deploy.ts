import { defineStep, port, SluiceError, Type } from "sluice";

const Deployment = Type.Object({
  deployment: Type.String({ minLength: 1 }),
  model: Type.String({ minLength: 1 }),
  version: Type.Integer({ minimum: 1 }),
  trafficPercent: Type.Number({ minimum: 0, maximum: 100 }),
  shadow: Type.Optional(Type.Boolean()),
});

/** One deployment behind an endpoint. */
interface DeploymentRow {
  deployment: string;
  model: string;
  version: number;
  trafficPercent: number;
  shadow?: boolean;
}

/**
 * Records the desired deployments of an endpoint: the registered version (from register-model)
 * with a traffic share, plus the `alongside` deployments that keep serving. The non-shadow
 * shares must add up to 100. Registry state changes, so it is never cached.
 */
export const deploy = defineStep({
  name: "deploy",
  description: "Deploy a registered model version to an endpoint with a traffic share",
  cache: false,
  inputs: { version: port.json<{ name: string; version: number }>() },
  outputs: { deployments: port.json<{ endpoint: string; deployments: DeploymentRow[] }>() },
  params: Type.Object({
    endpoint: Type.String({ minLength: 1 }),
    deployment: Type.String({ minLength: 1, default: "primary" }),
    trafficPercent: Type.Number({ minimum: 0, maximum: 100, default: 100 }),
    shadow: Type.Boolean({ default: false }),
    /** Other deployments of the endpoint that stay (the endpoint's previous set is replaced). */
    alongside: Type.Array(Deployment, { default: [] }),
  }),
  async run({ inputs, params, models, log }) {
    const mine: DeploymentRow = { deployment: params.deployment, model: inputs.version.name, version: inputs.version.version, trafficPercent: params.trafficPercent, ...(params.shadow ? { shadow: true } : {}) };
    const all: DeploymentRow[] = [mine, ...(params.alongside as DeploymentRow[])];
    const names = all.map((d) => d.deployment);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) throw new SluiceError("SLUICE_PARAMS_INVALID", `deploy › endpoint "${params.endpoint}": deployment "${dup}" is listed twice. Give each deployment its own name.`, { field: "alongside" });
    const total = all.filter((d) => !d.shadow).reduce((a, d) => a + d.trafficPercent, 0);
    if (Math.abs(total - 100) > 1e-9) {
      throw new SluiceError("SLUICE_PARAMS_INVALID", `deploy › endpoint "${params.endpoint}": the non-shadow traffic shares add up to ${total}%, not 100% (${all.filter((d) => !d.shadow).map((d) => `${d.deployment} ${d.trafficPercent}%`).join(", ")}). Adjust trafficPercent or alongside.`, { field: "trafficPercent" });
    }
    await models.deploy(params.endpoint, all);
    log("info", "deployed", { endpoint: params.endpoint, deployments: all.length });
    return { deployments: { endpoint: params.endpoint, deployments: all } };
  },
});
