/** `GET /schedules` (viewer): every pipeline's cron schedules, their next fire times and last fire. */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { SluiceError } from "../../errors.ts";
import { describeSchedules } from "../../triggers/index.ts";
import type { RouteGroup, ServerContext } from "../context.ts";
import { BEARER, Closed, SafeName } from "./schemas.ts";

const SchedulesQuery = Closed({
  pipeline: Type.Optional(SafeName),
  count: Type.Optional(Type.String({ pattern: "^(?:[1-9][0-9]?|100)$", description: "next fire times per schedule, 1–100 (default 3)" })),
});

/** The schedule routes: read-only; the scheduler itself runs inside `sluice serve`. */
export const scheduleRoutes: RouteGroup = async (app: FastifyInstance, ctx: ServerContext) => {
  const ws = ctx.workspace;
  app.get<{ Querystring: { pipeline?: string; count?: string } }>(
    "/schedules",
    { onRequest: ctx.requireRole("viewer"), schema: { summary: "Cron schedules with their next fire times and last recorded fire", tags: ["schedules"], querystring: SchedulesQuery, security: BEARER } },
    async (req) => {
      let pipelines = await ws.pipelines();
      const name = req.query.pipeline;
      if (name !== undefined) {
        pipelines = pipelines.filter((p) => p.name === name);
        if (pipelines.length === 0) throw new SluiceError("SLUICE_PIPELINE_NOT_FOUND", `no pipeline "${name}" in the workspace. GET /api/v1/pipelines lists them.`, { pipeline: name, field: "querystring.pipeline" });
      }
      return describeSchedules(pipelines, ws.fires, ctx.clock(), Number(req.query.count ?? 3));
    },
  );
};
