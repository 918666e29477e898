/** `GET /pipelines`, `GET /pipelines/:name` (viewer) and `POST /pipelines/:name/runs` (operator). */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { SluiceError } from "../../errors.ts";
import type { PipelineInfo, Workspace } from "../../workspace/index.ts";
import type { RouteGroup, ServerContext } from "../context.ts";
import type { ServiceParts } from "../service-parts.ts";
import { BEARER, Closed, SafeName } from "./schemas.ts";

/** Steps with default params, per loaded pipeline: planning is pure, and a listing planned every pipeline on every call. */
const stepsByPipeline = new WeakMap<object, unknown>();

/** What the API shows of a pipeline: its params schema and, with default params, its steps. */
function describePipeline(ws: Workspace, info: PipelineInfo): Record<string, unknown> {
  if (!stepsByPipeline.has(info.pipeline)) stepsByPipeline.set(info.pipeline, stepsOf(ws, info));
  return { name: info.name, description: info.description ?? null, params: info.pipeline.params, steps: stepsByPipeline.get(info.pipeline) };
}

function stepsOf(ws: Workspace, info: PipelineInfo): unknown {
  let steps: unknown;
  try {
    const plan = ws.plan(info.pipeline, {});
    steps = plan.order.map((id) => plan.nodes.get(id)!).flatMap((n) => (n.kind === "source" ? [] : [n])).map((n) => ({ id: n.id, step: n.step.name, kind: n.kind, executor: n.executor, dependsOn: (plan.deps.get(n.id) ?? []).filter((d) => plan.nodes.get(d)?.kind !== "source") }));
  } catch {
    steps = null; // params without defaults: the steps are known once params are given
  }
  return steps;
}

const NameParams = Closed({ name: SafeName });
const IdempotencyHeaders = Type.Object({ "idempotency-key": Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: "^[\\x21-\\x7e]+$", description: "a retried request with the same key (same token) gets the first run, not a second" })) });

/** The pipeline routes; runs start through the server's run manager. */
export function pipelineRoutes(parts: ServiceParts): RouteGroup {
  const runs = parts.runs;
  return async (app: FastifyInstance, ctx: ServerContext) => {
    const ws = ctx.workspace;
    app.get("/pipelines", { onRequest: ctx.requireRole("viewer"), schema: { summary: "List the workspace's pipelines", tags: ["pipelines"], security: BEARER } }, async () => {
      return (await ws.pipelines()).map((p) => describePipeline(ws, p));
    });
    app.get<{ Params: { name: string } }>("/pipelines/:name", { onRequest: ctx.requireRole("viewer"), schema: { summary: "One pipeline: params schema and steps", tags: ["pipelines"], params: NameParams, security: BEARER } }, async (req) => {
      return describePipeline(ws, await ws.load(req.params.name));
    });
    app.post<{ Params: { name: string }; Body: { params?: Record<string, unknown> }; Headers: { "idempotency-key"?: string } }>(
      "/pipelines/:name/runs",
      {
        onRequest: ctx.requireRole("operator", { action: "run.start", target: (req) => `pipeline/${(req.params as { name: string }).name}` }),
        schema: {
          summary: "Start a run (202 with its id); follow it at /runs/{id}/events",
          tags: ["runs"],
          params: NameParams,
          headers: IdempotencyHeaders,
          body: Closed({ params: Type.Optional(Type.Object({}, { additionalProperties: true, description: "pipeline params (checked against the pipeline's schema)" })) }),
          security: BEARER,
        },
      },
      async (req, reply) => {
        const actor = ctx.actorOf(req);
        const key = req.headers["idempotency-key"];
        const started = await runs.start(req.params.name, req.body.params ?? {}, { trigger: "http", actor: actor.name, ...(key ? { idempotencyKey: key } : {}) }).catch((err: unknown) => {
          // A param the pipeline's schema refused is named where the client sent it.
          if (err instanceof SluiceError && err.code === "SLUICE_PARAMS_INVALID" && typeof err.details.field === "string") {
            throw new SluiceError(err.code, err.message, { ...err.details, field: `body.params.${err.details.field}` }, { cause: err });
          }
          throw err;
        });
        parts.access.noteAudit(req, { runId: started.runId, reused: started.reused });
        return reply.code(202).send({ runId: started.runId, reused: started.reused, events: `/api/v1/runs/${started.runId}/events` });
      },
    );
  };
}
