/**
 * Runs: list, one run with its steps, live events (server-sent events, resumable with
 * `Last-Event-ID`), cancel, metrics, logs, output artifacts and why a step was a hit or a miss
 * (explain). Reads need viewer; cancel needs operator.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { SluiceError } from "../../errors.ts";
import type { MetricPoint, RunRecord, RunStatus, StepRunRecord, Trigger } from "../../store/run-store/index.ts";
import { createCacheEntries } from "../cache-entries.ts";
import type { RouteGroup, ServerContext } from "../context.ts";
import { replayEvents } from "../replay.ts";
import { RunGraphs, withDependsOn } from "../run-graph.ts";
import type { ServiceParts } from "../service-parts.ts";
import { openSse } from "../sse.ts";
import { explainStep } from "../step-explain.ts";
import { BEARER, Closed, LimitQuery, SafeName, StepIdParam } from "./schemas.ts";

const RUN_STATUSES = ["running", "succeeded", "failed", "cancelled", "interrupted"] as const;
const TRIGGERS = ["cli", "cron", "http", "api"] as const;
const RunParams = Closed({ id: SafeName });
const StepParams = Closed({ id: SafeName, step: StepIdParam });
const PortParams = Closed({ id: SafeName, step: StepIdParam, port: SafeName });
const StepQuery = Closed({ step: Type.Optional(StepIdParam) });
const LogQuery = Closed({ step: Type.Optional(StepIdParam), limit: Type.Optional(LimitQuery) });
/** An actor as run records show it (a token's name, `schedule:<id>`, a user name): printable, no control characters. */
const ActorQuery = Type.String({ pattern: "^[^\\u0000-\\u001f\\u007f]{1,200}$", description: "runs started by this actor (exact match)" });

type IdReq = { Params: { id: string } };

/** The run routes; live runs come from the server's run manager. */
export function runRoutes(parts: ServiceParts): RouteGroup {
  const { runs: manager, access } = parts;
  return async (app: FastifyInstance, ctx: ServerContext) => {
    const store = ctx.workspace.runs;
    const viewer = ctx.requireRole("viewer");
    const graphs = new RunGraphs(ctx.workspace);
    const entries = createCacheEntries(ctx.workspace.db);

    /** The run record, from the store or (before its first write lands) from its live events. */
    async function runOf(id: string): Promise<RunRecord> {
      const run = await store.getRun(id);
      if (run) return run;
      const live = manager.get(id);
      const started = live?.firstEvent;
      if (live && started?.type === "run.started") {
        return { id, pipeline: started.pipeline, status: "running", params: started.params, trigger: started.trigger as Trigger, actor: started.actor, codeDigest: null, host: "", pid: process.pid, startedAt: started.ts, finishedAt: null, error: null, stepCount: started.steps.length };
      }
      throw new SluiceError("SLUICE_RUN_NOT_FOUND", `no run "${id}". List runs with GET /api/v1/runs.`, { runId: id, field: "id" });
    }

    /** One step run of a run, or 404 naming the step. */
    async function stepOf(run: RunRecord, stepId: string): Promise<StepRunRecord> {
      const step = (await store.listStepRuns(run.id)).find((s) => s.stepId === stepId);
      if (!step) throw new SluiceError("SLUICE_RUN_NOT_FOUND", `run "${run.id}" has no step "${stepId}" (or it has not started yet). GET /api/v1/runs/${run.id} lists its steps.`, { runId: run.id, stepId, field: "step" });
      return step;
    }

    app.get<{ Querystring: { pipeline?: string; status?: RunStatus; trigger?: Trigger; actor?: string; limit?: string } }>(
      "/runs",
      {
        onRequest: viewer,
        schema: {
          summary: "Runs, newest first, filtered by pipeline, status, trigger and actor",
          tags: ["runs"],
          querystring: Closed({ pipeline: Type.Optional(SafeName), status: Type.Optional(Type.Union(RUN_STATUSES.map((s) => Type.Literal(s)))), trigger: Type.Optional(Type.Union(TRIGGERS.map((s) => Type.Literal(s)))), actor: Type.Optional(ActorQuery), limit: Type.Optional(LimitQuery) }),
          security: BEARER,
        },
      },
      async (req) => {
        const { pipeline, status, trigger, actor } = req.query;
        return store.listRuns({ pipeline, status, trigger, actor, limit: Number(req.query.limit ?? 50) });
      },
    );

    app.get<IdReq>(
      "/runs/:id",
      {
        onRequest: viewer,
        schema: {
          summary: "One run, its steps (each with dependsOn) and its graph",
          description: "`graph` is the run's own plan (its pipeline planned with the run's params; null when that no longer plans): `{ id, kind, dependsOn }` per step. Each step record has `dependsOn` from it; a map instance has its map node's, and `mapOf`.",
          tags: ["runs"],
          params: RunParams,
          security: BEARER,
        },
      },
      async (req) => {
        const run = await runOf(req.params.id);
        const [steps, graph] = await Promise.all([store.listStepRuns(run.id), graphs.of(run)]);
        return { run, steps: withDependsOn(steps, graph), graph, live: manager.get(run.id)?.finished === false };
      },
    );

    app.get<{ Params: { id: string; step: string } }>(
      "/runs/:id/steps/:step/explain",
      {
        onRequest: viewer,
        schema: {
          summary: "Why a step was a cache hit or a miss",
          description: "For a hit, `fromRun` is the run whose outputs were reused. For a miss on a new cache key, `changes` lists every key component (code file, package, param, input, env, version) that differs from the entry of the same step made before it (`comparedWith`); `summary` says it in words.",
          tags: ["runs"],
          params: StepParams,
          security: BEARER,
        },
      },
      async (req) => {
        const run = await runOf(req.params.id);
        return explainStep(ctx.workspace, entries, run, await stepOf(run, req.params.step));
      },
    );

    app.get<IdReq & { Headers: { "last-event-id"?: string } }>(
      "/runs/:id/events",
      {
        onRequest: viewer,
        schema: {
          summary: "The run's events as server-sent events; ends after run.finished",
          description: "Each event has an id (1, 2, 3…); reconnect with Last-Event-ID to resume after it. A finished run is replayed from the run store.",
          tags: ["runs"],
          params: RunParams,
          headers: Type.Object({ "last-event-id": Type.Optional(Type.String({ pattern: "^[0-9]{1,9}$" })) }),
          security: BEARER,
        },
      },
      async (req, reply) => {
        const after = Number(req.headers["last-event-id"] ?? 0);
        const live = manager.get(req.params.id);
        if (live) {
          const sse = openSse(reply);
          const stop = live.subscribe(after, (e) => (e === null ? sse.end() : sse.send({ id: e.id, event: e.event.type, data: e.event })));
          await sse.closed;
          stop();
          return;
        }
        const run = await runOf(req.params.id);
        const events = await replayEvents(store, run);
        const sse = openSse(reply);
        const rest = events.slice(after);
        // An id from the live stream (which numbers every event) can be past the replay's end:
        // the client still learns how the run finished.
        const last = events.at(-1);
        if (rest.length === 0 && last?.type === "run.finished") rest.push(last);
        rest.forEach((event, i) => sse.send({ id: after + i + 1, event: event.type, data: event }));
        sse.end();
      },
    );

    app.post<IdReq>(
      "/runs/:id/cancel",
      { onRequest: ctx.requireRole("operator", { action: "run.cancel", target: (req) => `run/${(req.params as { id: string }).id}` }), schema: { summary: "Cancel a running run (202); it ends cancelled", tags: ["runs"], params: RunParams, security: BEARER } },
      async (req, reply) => {
        const id = req.params.id;
        const actor = ctx.actorOf(req);
        if (!manager.cancel(id, `cancelled over the API by ${actor.name}`)) {
          const run = await runOf(id);
          throw new SluiceError("SLUICE_RUN_NOT_ACTIVE", `run "${id}" is ${run.status} and not running in this server, so it cannot be cancelled here.${run.status === "running" ? " Cancel it where it runs (its host is in the run record)." : ""}`, { runId: id, status: run.status, field: "id" });
        }
        access.noteAudit(req, { runId: id });
        return reply.code(202).send({ runId: id, status: "cancelling" });
      },
    );

    app.get<IdReq & { Querystring: { step?: string } }>("/runs/:id/metrics", { onRequest: viewer, schema: { summary: "Metric samples of a run (of one step with ?step=)", tags: ["runs"], params: RunParams, querystring: StepQuery, security: BEARER } }, async (req) => {
      const run = await runOf(req.params.id);
      return store.listMetrics(run.id, req.query.step);
    });
    app.get<IdReq & { Querystring: { step?: string; limit?: string } }>("/runs/:id/logs", { onRequest: viewer, schema: { summary: "Log lines of a run (of one step with ?step=; the last N with ?limit=)", tags: ["runs"], params: RunParams, querystring: LogQuery, security: BEARER } }, async (req) => {
      const run = await runOf(req.params.id);
      return store.listLogs(run.id, req.query.step, req.query.limit === undefined ? undefined : Number(req.query.limit));
    });
    app.get<{ Params: { id: string; step: string } }>("/runs/:id/steps/:step/logs", { onRequest: viewer, schema: { summary: "One step's log lines", tags: ["runs"], params: StepParams, security: BEARER } }, async (req) => {
      const run = await runOf(req.params.id);
      return store.listLogs(run.id, req.params.step);
    });
    app.get<{ Params: { id: string; step: string } }>(
      "/runs/:id/steps/:step/metrics",
      {
        onRequest: viewer,
        schema: {
          summary: "One step's metric samples",
          description: "A cached step reports no metrics of its own: it answers the samples of the run that produced its outputs, each with `fromRun` (that run's id; `runId` and `stepId` are where they were recorded).",
          tags: ["runs"],
          params: StepParams,
          security: BEARER,
        },
      },
      async (req): Promise<Array<MetricPoint & { fromRun?: string }>> => {
        const run = await runOf(req.params.id);
        const own = await store.listMetrics(run.id, req.params.step);
        if (own.length > 0) return own;
        const step = (await store.listStepRuns(run.id)).find((s) => s.stepId === req.params.step);
        const made = step?.status === "cached" && step.cacheKey ? entries.entry(step.cacheKey) : undefined;
        if (!made || made.runId === run.id) return own;
        return (await store.listMetrics(made.runId, made.stepId)).map((p) => ({ ...p, fromRun: made.runId }));
      },
    );
    app.get<{ Params: { id: string; step: string; port: string } }>(
      "/runs/:id/steps/:step/outputs/:port",
      { onRequest: viewer, schema: { summary: "The bytes of one output artifact of a step (found by the digest the run recorded)", tags: ["runs"], params: PortParams, security: BEARER } },
      async (req, reply) => {
        const run = await runOf(req.params.id);
        const step = (await store.listStepRuns(run.id)).find((s) => s.stepId === req.params.step);
        const digest = step?.outputs[req.params.port];
        if (!step || !digest) throw new SluiceError("SLUICE_RUN_NOT_FOUND", `run "${run.id}" has no output ${req.params.step}.${req.params.port}. GET /api/v1/runs/${run.id} lists its steps and outputs.`, { runId: run.id, field: "port" });
        const bytes = ctx.workspace.cas.getBytes(digest as never);
        if (!bytes) throw new SluiceError("SLUICE_CACHE_CORRUPT", `output ${req.params.step}.${req.params.port} (${digest}) is no longer in the cache (pruned or corrupt). Run the pipeline again to rebuild it.`, { digest });
        return reply.type("application/octet-stream").header("x-sluice-digest", digest).send(bytes);
      },
    );
  };
}
