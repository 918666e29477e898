/**
 * The fastify app of `sluice serve`: strict validation (nothing coerced or stripped), one error
 * handler, a child logger per request with tokens redacted, access control and auditing, the
 * run manager, `/healthz`, `/readyz`, `/metrics` and the OpenAPI document, and every route
 * group under `/api/v1`. The app is returned not listening; `close()` stops runs cleanly.
 */
import path from "node:path";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from "fastify";
import { Registry } from "prom-client";
import type { Logger } from "../log.ts";
import { createPostgresStores, createSqliteStores, type ServiceStore } from "../store/run-store/index.ts";
import type { ResolvedConfig } from "../config/index.ts";
import type { Workspace } from "../workspace/index.ts";
import { packageVersion } from "../util/package-root.ts";
import { createAccess, type Access } from "./access.ts";
import type { RouteGroup, ServerContext } from "./context.ts";
import { toHttpError } from "./http-errors.ts";
import { createRunMetrics } from "./metrics.ts";
import { OpenApiCollector } from "./openapi.ts";
import { adminRoutes } from "./routes/admin.ts";
import { modelRoutes } from "./routes/models.ts";
import { pipelineRoutes } from "./routes/pipelines.ts";
import { runRoutes } from "./routes/runs.ts";
import { RunManager } from "./run-manager.ts";
import type { ServiceParts } from "./service-parts.ts";
import { studioRoutes } from "./studio/index.ts";

/** Largest request body accepted by default: 1 MiB. */
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/** Options of `createServer`. */
export interface CreateServerOptions {
  readonly workspace: Workspace;
  readonly log: Logger;
  /** @default Date.now */
  readonly clock?: () => number;
  /** More route groups under `/api/v1` (endpoints, schedules…), registered before the core ones. */
  readonly routeGroups?: readonly RouteGroup[];
  /** @default DEFAULT_BODY_LIMIT_BYTES */
  readonly bodyLimitBytes?: number;
  /** Tokens, audit log, idempotency keys. @default opened on the workspace's run database, closed by `close()` */
  readonly service?: ServiceStore;
  /** Audit entries per minute for anonymous requests to unknown URLs; beyond it they are counted. @default ANONYMOUS_AUDITS_PER_MINUTE (60) */
  readonly anonymousAuditsPerMinute?: number;
}

/** A built server: the app (not listening), its context and run manager. */
export interface SluiceServer {
  readonly app: FastifyInstance;
  readonly context: ServerContext;
  readonly runs: RunManager;
  readonly access: Access;
  readonly service: ServiceStore;
  /** Cancels running runs and waits for them, ends open event streams, closes the app and the stores it opened. */
  close(): Promise<void>;
}

/** The service store on the workspace's run database (SQLite in the cache, or `databaseUrl`). */
export async function openServiceStore(config: ResolvedConfig): Promise<{ service: ServiceStore; close(): Promise<void> }> {
  const stores = config.databaseUrl ? await createPostgresStores(config.databaseUrl) : await createSqliteStores(path.join(config.cacheDir, "runs.db"));
  return { service: stores.service, close: () => stores.close() };
}

/** Log paths never written: bearer tokens in headers, token fields in bodies. */
const REDACT = ["req.headers.authorization", "headers.authorization", "authorization", "token", "*.token"];

/** Builds the app. */
export async function createServer(opts: CreateServerOptions): Promise<SluiceServer> {
  const clock = opts.clock ?? Date.now;
  const log = opts.log.child({ component: "server" }, { redact: { paths: REDACT, censor: "[redacted]" } });
  const opened = opts.service ? undefined : await openServiceStore(opts.workspace.config);
  const service = opts.service ?? opened!.service;
  const metrics = new Registry();
  const observe = createRunMetrics(metrics);
  const runs = new RunManager({ workspace: opts.workspace, service, log, clock, onEvent: observe });
  const access = createAccess({ service, log, clock, ...(opts.anonymousAuditsPerMinute === undefined ? {} : { anonymousAuditsPerMinute: opts.anonymousAuditsPerMinute }) });
  const context: ServerContext = { workspace: opts.workspace, log, clock, requireRole: access.requireRole, actorOf: access.actorOf, audit: access.audit, metrics };
  const parts: ServiceParts = { runs, access, service };

  const app: FastifyInstance = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    // No per-request "incoming"/"completed" lines: refusals and failures are logged by the error
    // handler, state changes by the audit log, and counts are at /metrics.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
    return503OnClosing: true,
    // Errors fastify raises before routing (a URL that does not decode) get the same JSON shape.
    frameworkErrors: (err, req, reply) => {
      const { status, body } = toHttpError(err, { method: req.method, path: "(url)", reqId: String(req.id) });
      void (reply as FastifyReply).code(status).send(body);
    },
  });
  const openapi = new OpenApiCollector();
  app.addHook("onRoute", (route) => openapi.add(route));
  // Callback style: a request that is not audited (reads, scores) passes without a promise.
  app.addHook("onSend", (req, reply, payload, done) => {
    if (!access.audited(req, reply)) return done(null, payload);
    access.onSend(req, reply).then(() => done(null, payload), done);
  });
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toHttpError(err, { method: req.method, path: req.url.split("?")[0]!, reqId: String(req.id) });
    if (status >= 500) req.log.error({ err }, "request failed");
    else req.log.info({ code: body.error.code, status }, "request refused");
    if (status === 401) void reply.header("www-authenticate", 'Bearer realm="sluice"');
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const where = `${req.method} ${req.url.split("?")[0]}`;
    return reply.code(404).send({ error: { code: "SLUICE_ROUTE_NOT_FOUND", message: `${where}: no such route. GET /api/v1/openapi.json lists the routes.`, field: null } });
  });

  app.get("/healthz", { schema: { summary: "The process answers", tags: ["health"] } }, async () => ({ status: "ok" }));
  app.get("/readyz", { schema: { summary: "The stores answer (503 when not)", tags: ["health"] } }, async (req, reply) => {
    try {
      await Promise.all([opts.workspace.runs.listRuns({ limit: 1 }), service.ping()]);
      return { status: "ready" };
    } catch (err) {
      req.log.warn({ err }, "not ready");
      return reply.code(503).send({ error: { code: "SLUICE_STORE_FAILED", message: "the run store does not answer. Check the database (see the server log).", field: null } });
    }
  });
  app.get("/metrics", { schema: { summary: "Prometheus metrics (no token needed: counts only)", tags: ["health"] } }, async (_req, reply) => {
    return reply.type(metrics.contentType).send(await metrics.metrics());
  });

  await app.register(
    async (api) => {
      for (const group of [...(opts.routeGroups ?? []), pipelineRoutes(parts), runRoutes(parts), modelRoutes, adminRoutes(parts)]) await group(api, context);
      api.get("/openapi.json", { schema: { hide: true } }, async () => openapi.document({ title: "sluice", version: packageVersion() }));
    },
    { prefix: "/api/v1" },
  );
  // The Studio web UI at `/` (static files; it talks only to /api/v1).
  await app.register(studioRoutes, { context });

  let closing: Promise<void> | undefined;
  return {
    app,
    context,
    runs,
    access,
    service,
    close: () =>
      (closing ??= (async () => {
        await runs.close();
        await app.close();
        await opened?.close();
      })()),
  };
}
