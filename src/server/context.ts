import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Registry } from "prom-client";
import type { Logger } from "../log.ts";
import type { Workspace } from "../workspace/index.ts";

/** Roles of bearer tokens, weakest first: viewer reads; operator triggers, cancels and scores; admin deploys and manages tokens. */
export const ROLES = ["viewer", "operator", "admin"] as const;

/** One of `ROLES`. */
export type Role = (typeof ROLES)[number];

/** Who made a request, once its token is checked. */
export interface Actor {
  /** The token's name (`ci`, `alice`), as audit entries and run records show it. */
  readonly name: string;
  readonly role: Role;
}

/** One line of the audit log: every state-changing call, allowed or not. */
export interface AuditEntry {
  /** The token's name, or `anonymous` when none was valid. */
  readonly actor: string;
  /** What was attempted: `run.start`, `run.cancel`, `endpoint.score`, `endpoint.traffic`, `token.create`… */
  readonly action: string;
  /** What it was attempted on: `pipeline/iris`, `run/r…`, `endpoint/churn`. */
  readonly target: string;
  readonly result: "ok" | "denied" | "invalid" | "error";
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A fastify pre-handler. */
export type PreHandler = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * What every route group receives from the server: the workspace (stores, runs), the logger,
 * the clock, access control, the audit log and the metrics registry. Route groups never reach
 * for globals.
 */
export interface ServerContext {
  readonly workspace: Workspace;
  readonly log: Logger;
  readonly clock: () => number;
  /**
   * A pre-handler that answers 401 without a valid bearer token and 403 when the token's role is
   * below `role` (auditing the denial when `action` is given); on success the actor is readable
   * with `actorOf(req)`.
   */
  requireRole(role: Role, action?: { readonly action: string; readonly target: (req: FastifyRequest) => string }): PreHandler;
  /** The actor of a request that passed `requireRole`. */
  actorOf(req: FastifyRequest): Actor;
  /** Appends one audit entry (timestamped by the server's clock). Never throws into the caller's response. */
  audit(entry: AuditEntry): Promise<void>;
  /** The Prometheus registry served at `/metrics`. */
  readonly metrics: Registry;
}

/** One group of routes (runs, pipelines, endpoints, schedules…), registered under `/api/v1`. */
export type RouteGroup = (app: FastifyInstance, ctx: ServerContext) => Promise<void>;
