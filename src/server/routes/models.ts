/**
 * Read routes of the model registry (viewer): model versions, and each endpoint's deployments.
 * Scoring and traffic changes are the endpoints group's (`routes/endpoints.ts`); a read route it
 * already registered is not added again here.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { SluiceError } from "../../errors.ts";
import type { RouteGroup, ServerContext } from "../context.ts";
import { BEARER, Closed, SafeName } from "./schemas.ts";

/** The registry read routes. */
export const modelRoutes: RouteGroup = async (app: FastifyInstance, ctx: ServerContext) => {
  const viewer = ctx.requireRole("viewer");
  const models = ctx.workspace.models;
  app.get<{ Querystring: { name?: string } }>("/models", { onRequest: viewer, schema: { summary: "Registered model versions, newest first", tags: ["models"], querystring: Closed({ name: Type.Optional(SafeName) }), security: BEARER } }, async (req) => models.list(req.query.name));
  app.get<{ Params: { name: string } }>("/models/:name", { onRequest: viewer, schema: { summary: "A model's versions and champion", tags: ["models"], params: Closed({ name: SafeName }), security: BEARER } }, async (req) => {
    const versions = await models.list(req.params.name);
    if (versions.length === 0) throw new SluiceError("SLUICE_MODEL_NOT_FOUND", `no model "${req.params.name}" in the registry. GET /api/v1/models lists them.`, { model: req.params.name, field: "name" });
    return { name: req.params.name, champion: versions.find((v) => v.stage === "champion")?.version ?? null, versions };
  });
  app.get<{ Params: { name: string; version: string } }>(
    "/models/:name/versions/:version",
    { onRequest: viewer, schema: { summary: "One model version", tags: ["models"], params: Closed({ name: SafeName, version: Type.String({ pattern: "^[1-9][0-9]{0,8}$" }) }), security: BEARER } },
    async (req) => {
      const m = await models.get(req.params.name, Number(req.params.version));
      if (!m) throw new SluiceError("SLUICE_MODEL_NOT_FOUND", `no model "${req.params.name}" version ${req.params.version} in the registry. GET /api/v1/models/${req.params.name} lists its versions.`, { model: req.params.name, field: "version" });
      return m;
    },
  );
  if (!app.hasRoute({ method: "GET", url: "/api/v1/endpoints" })) {
    app.get("/endpoints", { onRequest: viewer, schema: { summary: "Endpoints and their deployments", tags: ["endpoints"], security: BEARER } }, async () => {
      const byEndpoint = new Map<string, unknown[]>();
      for (const d of await models.listDeployments()) (byEndpoint.get(d.endpoint) ?? byEndpoint.set(d.endpoint, []).get(d.endpoint)!).push(d);
      return [...byEndpoint].map(([name, deployments]) => ({ name, deployments }));
    });
  }
  if (!app.hasRoute({ method: "GET", url: "/api/v1/endpoints/:name" })) {
    app.get<{ Params: { name: string } }>("/endpoints/:name", { onRequest: viewer, schema: { summary: "One endpoint's deployments", tags: ["endpoints"], params: Closed({ name: SafeName }), security: BEARER } }, async (req) => {
      const deployments = await models.listDeployments(req.params.name);
      if (deployments.length === 0) throw new SluiceError("SLUICE_MODEL_NOT_FOUND", `no endpoint "${req.params.name}" with deployments. GET /api/v1/endpoints lists them.`, { endpoint: req.params.name, field: "name" });
      return { name: req.params.name, deployments };
    });
  }
};
