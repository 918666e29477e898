/** Tokens (admin: list, create, revoke) and the audit log (admin). */
import { Type } from "@sinclair/typebox";
import type { FastifyInstance } from "fastify";
import { ROLES, type RouteGroup, type ServerContext } from "../context.ts";
import { hashToken, newToken } from "../access.ts";
import type { ServiceParts } from "../service-parts.ts";
import { BEARER, Closed, LimitQuery, SafeName } from "./schemas.ts";

/** The admin routes: `/tokens` and `/audit`. */
export function adminRoutes(parts: ServiceParts): RouteGroup {
  const { service, access } = parts;
  return async (app: FastifyInstance, ctx: ServerContext) => {
    const admin = ctx.requireRole("admin");
    app.get<{ Querystring: { limit?: string; before?: string } }>(
      "/audit",
      { onRequest: admin, schema: { summary: "The audit log, newest first: who did what to what, when, with what result", tags: ["admin"], querystring: Closed({ limit: Type.Optional(LimitQuery), before: Type.Optional(Type.String({ pattern: "^[1-9][0-9]{0,15}$", description: "entries before this seq (paging)" })) }), security: BEARER } },
      async (req) => service.listAudit({ limit: Number(req.query.limit ?? 100), ...(req.query.before ? { beforeSeq: Number(req.query.before) } : {}) }),
    );
    app.get("/tokens", { onRequest: admin, schema: { summary: "Tokens (names and roles; secrets are never stored)", tags: ["admin"], security: BEARER } }, async () => service.listTokens());
    app.post<{ Body: { name: string; role: (typeof ROLES)[number] } }>(
      "/tokens",
      {
        onRequest: ctx.requireRole("admin", { action: "token.create", target: () => "tokens" }),
        schema: { summary: "Create a token (201); the secret is in this answer only", tags: ["admin"], body: Closed({ name: SafeName, role: Type.Union(ROLES.map((r) => Type.Literal(r))) }), security: BEARER },
      },
      async (req, reply) => {
        const token = newToken();
        const rec = await service.createToken({ name: req.body.name, role: req.body.role, hash: hashToken(token), createdAt: ctx.clock() });
        access.noteAudit(req, { name: rec.name, role: rec.role });
        return reply.code(201).send({ ...rec, token });
      },
    );
    app.delete<{ Params: { name: string } }>(
      "/tokens/:name",
      { onRequest: ctx.requireRole("admin", { action: "token.revoke", target: (req) => `token/${(req.params as { name: string }).name}` }), schema: { summary: "Revoke a token", tags: ["admin"], params: Closed({ name: SafeName }), security: BEARER } },
      async (req) => {
        const rec = await service.revokeToken(req.params.name, ctx.clock());
        access.forget(rec.name);
        return rec;
      },
    );
  };
}
