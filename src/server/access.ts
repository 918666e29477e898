/**
 * Access control and the audit log of `sluice serve`. A bearer token is 32 random bytes
 * (base64url, prefixed `slc_`); only its sha256 is stored. Roles are ordered viewer < operator <
 * admin. Every state-changing request is audited once it is answered: the route names the action
 * (through `requireRole(role, action)`), the result comes from the response status.
 */
import { createHash, randomBytes } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { SluiceError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ServiceStore } from "../store/run-store/index.ts";
import { ROLES, type Actor, type AuditEntry, type PreHandler, type Role } from "./context.ts";

/** A new secret token (shown once, never stored). */
export function newToken(): string {
  return `slc_${randomBytes(32).toString("base64url")}`;
}

/** What is stored of a token: its sha256, hex. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** True for a role name. */
export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** What a request's audit entry will say, filled in as the request goes. */
interface AuditIntent {
  action: string;
  target: string;
  details?: Record<string, unknown>;
}

const actors = new WeakMap<FastifyRequest, Actor>();
const intents = new WeakMap<FastifyRequest, AuditIntent>();

/**
 * How long a checked token is trusted without asking the store again. The store lookup is the
 * costliest part of a scoring request (it halved a constant route's throughput), so a live token
 * is remembered briefly: a revocation through the API takes effect at once, one through the CLI
 * (another process) within this time. Unknown tokens are never remembered, so a new token works
 * at once and random guesses cannot fill memory.
 */
export const TOKEN_TRUST_MS = 1000;
const TOKEN_CACHE_MAX = 10_000;

/** Audit entries per minute for anonymous requests that match no route (beyond it they are counted). */
export const ANONYMOUS_AUDITS_PER_MINUTE = 60;

/** Methods that change state: failed requests with these are audited even when no route named an action. */
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The audit result of an answered request. */
function resultOf(status: number): AuditEntry["result"] {
  if (status < 400) return "ok";
  if (status === 401 || status === 403) return "denied";
  return status < 500 ? "invalid" : "error";
}

/** Access control bound to one service store. */
export interface Access {
  requireRole(role: Role, action?: { readonly action: string; readonly target: (req: FastifyRequest) => string }): PreHandler;
  actorOf(req: FastifyRequest): Actor;
  audit(entry: AuditEntry): Promise<void>;
  /** Adds details (a run id…) to the request's audit entry. */
  noteAudit(req: FastifyRequest, details: Record<string, unknown>): void;
  /** True when the answered request gets an audit entry (most reads and scores do not). */
  audited(req: FastifyRequest, reply: FastifyReply): boolean;
  /** The onSend hook that writes the request's audit entry. */
  onSend(req: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Stops trusting the remembered tokens of `name` (after a revocation through the API). */
  forget(name: string): void;
}

/** Access control and auditing over `service`, timestamped by `clock`. */
export function createAccess(opts: { service: ServiceStore; log: Logger; clock: () => number; trustMs?: number; anonymousAuditsPerMinute?: number }): Access {
  const { service, log, clock } = opts;
  const anonymousLimit = opts.anonymousAuditsPerMinute ?? ANONYMOUS_AUDITS_PER_MINUTE;
  // Audit entries of anonymous requests that matched no route, this minute, and how many were left out.
  const anonymous = { minute: -1, written: 0, skipped: 0 };
  const trustMs = opts.trustMs ?? TOKEN_TRUST_MS;
  // Token hash → actor and until when (monotonic ms) it is trusted without a store lookup.
  const trusted = new Map<string, { actor: Actor; until: number }>();
  let forgotten = 0;

  async function authenticate(req: FastifyRequest): Promise<Actor | undefined> {
    const known = actors.get(req);
    if (known) return known;
    const header = req.headers.authorization;
    const m = typeof header === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) return undefined;
    const hash = hashToken(m[1]!);
    const now = performance.now();
    const hit = trusted.get(hash);
    if (hit && hit.until > now) {
      actors.set(req, hit.actor);
      return hit.actor;
    }
    const generation = forgotten;
    const token = await service.findToken(hash);
    if (!token || !isRole(token.role)) {
      trusted.delete(hash);
      return undefined;
    }
    const actor = { name: token.name, role: token.role };
    // A revocation over the API while this lookup was in flight: do not trust what it found.
    if (trustMs > 0 && generation === forgotten) {
      if (trusted.size >= TOKEN_CACHE_MAX) trusted.clear();
      trusted.set(hash, { actor, until: now + trustMs });
    }
    actors.set(req, actor);
    return actor;
  }

  async function audit(entry: AuditEntry): Promise<void> {
    try {
      await service.appendAudit({ ts: clock(), actor: entry.actor, action: entry.action, target: entry.target, result: entry.result, details: { ...entry.details } });
    } catch (err) {
      log.error({ err, action: entry.action, target: entry.target }, "audit entry not written");
    }
  }

  return {
    requireRole(role, action) {
      return async (req) => {
        if (action) intents.set(req, { action: action.action, target: safeTarget(() => action.target(req)) });
        const actor = await authenticate(req);
        if (!actor) {
          throw new SluiceError("SLUICE_UNAUTHENTICATED", `${req.method} ${req.url.split("?")[0]}: no valid bearer token. Send "Authorization: Bearer <token>" (create one with \`sluice token create --role ${role} --name NAME\`).`, { field: "authorization" });
        }
        if (ROLES.indexOf(actor.role) < ROLES.indexOf(role)) {
          throw new SluiceError("SLUICE_FORBIDDEN", `${req.method} ${req.url.split("?")[0]}: token "${actor.name}" has role ${actor.role}; this needs ${role} or above. Use a token with that role.`, { field: "authorization", role: actor.role, needed: role });
        }
      };
    },
    actorOf(req) {
      const a = actors.get(req);
      if (!a) throw new SluiceError("SLUICE_INTERNAL", `${req.method} ${req.url}: actorOf called on a request that did not pass requireRole. Add requireRole to the route.`);
      return a;
    },
    audit,
    forget(name) {
      forgotten++;
      for (const [hash, t] of trusted) if (t.actor.name === name) trusted.delete(hash);
    },
    noteAudit(req, details) {
      const i = intents.get(req);
      if (i) i.details = { ...i.details, ...details };
    },
    audited(req, reply) {
      return intents.has(req) || (STATE_CHANGING.has(req.method) && reply.statusCode >= 400);
    },
    async onSend(req, reply) {
      let intent = intents.get(req);
      if (!intent && STATE_CHANGING.has(req.method) && reply.statusCode >= 400) intent = { action: `http.${req.method.toLowerCase()}`, target: req.url.split("?")[0]!.slice(0, 300) };
      if (!intent) return;
      intents.delete(req);
      const actor = actors.get(req)?.name ?? "anonymous";
      let details: Record<string, unknown> = { status: reply.statusCode, ...intent.details };
      if (actor === "anonymous" && !req.routeOptions.url) {
        // Anyone can send these: past a few a minute they are counted, not written one by one,
        // so that nobody can fill the audit log from outside.
        const minute = Math.floor(clock() / 60_000);
        if (minute !== anonymous.minute) Object.assign(anonymous, { minute, written: 0 });
        if (anonymous.written >= anonymousLimit) {
          if (anonymous.skipped++ === 0) log.warn({ limit: anonymousLimit }, "anonymous requests to unknown URLs: audit entries beyond the limit this minute are counted, not written");
          return;
        }
        anonymous.written++;
        if (anonymous.skipped > 0) details = { ...details, notWrittenBefore: anonymous.skipped };
        anonymous.skipped = 0;
      }
      await audit({ actor, action: intent.action, target: intent.target, result: resultOf(reply.statusCode), details });
    },
  };
}

/** A target name from the route's function; never throws (a bad path is still audited). */
function safeTarget(fn: () => string): string {
  try {
    return fn().slice(0, 300);
  } catch {
    return "unknown";
  }
}
