/**
 * Model endpoints over HTTP: score rows (operator), read endpoints with their deployments,
 * shares and stats (viewer), change traffic (admin, audited), and batch jobs (operator to start,
 * audited; viewer to read status and fetch the result). A thin layer over `EndpointService`.
 */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { encodeTable, tableToRows, writeCsv } from "../../artifacts/index.ts";
import { EndpointService, type EndpointServiceOptions } from "../../serving/index.ts";
import { REGISTRY_NAME_PATTERN } from "../../store/run-store/index.ts";
import type { RouteGroup, ServerContext } from "../context.ts";
import { BEARER, Closed } from "./schemas.ts";

/** Rows one score request may carry, by default. */
export const DEFAULT_MAX_SCORE_ROWS = 1000;

/** The request header whose value makes routing sticky, by default. */
export const DEFAULT_STICKY_HEADER = "x-sluice-sticky-key";

/** Options of `endpointRoutes`. */
export interface EndpointRoutesOptions {
  /** A service the caller owns (tests, bench); without one the group makes its own from the context and closes it with the app. */
  readonly service?: EndpointService;
  /** Options for the service the group makes (a seeded `random`, `refreshMs`…). */
  readonly serviceOptions?: Partial<Omit<EndpointServiceOptions, "models" | "cas" | "root" | "log" | "metrics">>;
  /** @default DEFAULT_MAX_SCORE_ROWS */
  readonly maxRows?: number;
  /** @default DEFAULT_STICKY_HEADER */
  readonly stickyHeader?: string;
}

const EndpointName = Type.String({ pattern: REGISTRY_NAME_PATTERN.source, description: "an endpoint name (letters, digits, . _ -)" });
const JobId = Type.String({ pattern: "^b[0-9a-z]{9,12}-[0-9a-f]{8}$", description: "a batch job id" });
const NameParams = Closed({ name: EndpointName });
const JobParams = Closed({ name: EndpointName, jobId: JobId });
const Percent = Type.Integer({ minimum: 0, maximum: 100 });
const DeploymentBody = Closed({
  deployment: EndpointName,
  model: EndpointName,
  version: Type.Integer({ minimum: 1 }),
  trafficPercent: Percent,
  shadow: Type.Optional(Type.Boolean()),
});
const TrafficBody = Type.Union([
  Closed({ shares: Type.Record(Type.String({ pattern: REGISTRY_NAME_PATTERN.source }), Percent, { minProperties: 1 }) }, { description: "new shares of existing deployments" }),
  Closed({ deployments: Type.Array(DeploymentBody, { maxItems: 32 }) }, { description: "the whole set of deployments (an empty list removes the endpoint)" }),
]);
const BatchBody = Closed({
  table: Type.Optional(Type.String({ maxLength: 80, description: "sha256:<hex> of a stored table (a run's table output)" })),
  path: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: "a CSV, JSON Lines, Parquet or Arrow file relative to the workspace root" })),
  deployment: Type.Optional(EndpointName),
});
const ResultQuery = Closed({ format: Type.Optional(Type.Union([Type.Literal("csv"), Type.Literal("jsonl"), Type.Literal("arrow")])) });

type NameReq = { Params: { name: string } };
type JobReq = { Params: { name: string; jobId: string } };
const target = (req: FastifyRequest): string => `endpoint/${(req.params as { name?: string }).name ?? "?"}`;

/** The endpoint routes (see the module comment), for `createServer({ routeGroups })`. */
export function endpointRoutes(opts: EndpointRoutesOptions = {}): RouteGroup {
  const maxRows = opts.maxRows ?? DEFAULT_MAX_SCORE_ROWS;
  const stickyHeader = (opts.stickyHeader ?? DEFAULT_STICKY_HEADER).toLowerCase();
  return async (app: FastifyInstance, ctx: ServerContext) => {
    let service = opts.service;
    if (!service) {
      const ws = ctx.workspace;
      const own = new EndpointService({ clock: ctx.clock, ...opts.serviceOptions, models: ws.models, cas: ws.cas, root: ws.config.root, log: ctx.log, metrics: ctx.metrics });
      await own.start();
      app.addHook("onClose", () => own.close());
      service = own;
    }
    const svc = service;
    const viewer = ctx.requireRole("viewer");
    const ScoreBody = Closed({ rows: Type.Array(Type.Unknown(), { minItems: 1, maxItems: maxRows, description: `1–${maxRows} rows: objects by column name, or arrays in the model's column order` }) });

    app.get("/endpoints", { onRequest: viewer, schema: { summary: "Model endpoints with their deployments, shares and stats", tags: ["endpoints"], security: BEARER } }, async () => {
      await svc.refreshShared();
      return svc.list();
    });

    app.get<NameReq>("/endpoints/:name", { onRequest: viewer, schema: { summary: "One endpoint: deployments, shares, stats, batch jobs", tags: ["endpoints"], params: NameParams, security: BEARER } }, async (req) => {
      return { ...(await svc.get(req.params.name)), jobs: svc.batchJobs(req.params.name) };
    });

    app.post<NameReq & { Body: { rows: unknown[] } }>(
      "/endpoints/:name/score",
      { onRequest: ctx.requireRole("operator"), schema: { summary: `Score rows (sticky routing by the ${stickyHeader} header)`, tags: ["endpoints"], params: NameParams, body: ScoreBody, security: BEARER } },
      async (req) => {
        const sticky = req.headers[stickyHeader];
        return svc.score(req.params.name, req.body.rows, typeof sticky === "string" && sticky !== "" ? { stickyKey: sticky } : {});
      },
    );

    app.put<NameReq & { Body: { shares?: Record<string, number>; deployments?: Array<{ deployment: string; model: string; version: number; trafficPercent: number; shadow?: boolean }> } }>(
      "/endpoints/:name/traffic",
      { onRequest: ctx.requireRole("admin", { action: "endpoint.traffic", target }), schema: { summary: "Change traffic shares, or deploy a new set of versions, without downtime", tags: ["endpoints"], params: NameParams, body: TrafficBody, security: BEARER } },
      async (req) => svc.setTraffic(req.params.name, req.body),
    );

    app.post<NameReq & { Body: { table?: string; path?: string; deployment?: string } }>(
      "/endpoints/:name/batch",
      { onRequest: ctx.requireRole("operator", { action: "endpoint.batch", target }), schema: { summary: "Start a batch scoring job on a stored table or a workspace file", tags: ["endpoints"], params: NameParams, body: BatchBody, security: BEARER } },
      async (req, reply) => reply.code(202).send(await svc.startBatch(req.params.name, req.body)),
    );

    app.get<NameReq>("/endpoints/:name/batch", { onRequest: viewer, schema: { summary: "Batch jobs of an endpoint, newest first", tags: ["endpoints"], params: NameParams, security: BEARER } }, async (req) => svc.batchJobs(req.params.name));

    app.get<JobReq>("/endpoints/:name/batch/:jobId", { onRequest: viewer, schema: { summary: "A batch job's status and result digest", tags: ["endpoints"], params: JobParams, security: BEARER } }, async (req) => svc.batchJob(req.params.name, req.params.jobId));

    app.get<JobReq & { Querystring: { format?: "csv" | "jsonl" | "arrow" } }>(
      "/endpoints/:name/batch/:jobId/result",
      { onRequest: viewer, schema: { summary: "A succeeded batch job's result table (csv, jsonl or arrow)", tags: ["endpoints"], params: JobParams, querystring: ResultQuery, security: BEARER } },
      async (req, reply) => {
        const t = svc.batchResult(req.params.name, req.params.jobId);
        const format = req.query.format ?? "csv";
        if (format === "arrow") return reply.type("application/vnd.apache.arrow.file").send(Buffer.from(encodeTable(t)));
        if (format === "jsonl") {
          const lines = tableToRows(t).map((r) => JSON.stringify(r, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v)));
          return reply.type("application/x-ndjson").send(lines.join("\n") + "\n");
        }
        return reply.type("text/csv; charset=utf-8").send(writeCsv(t));
      },
    );
  };
}
