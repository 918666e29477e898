/** `sluice serve`: the HTTP service (fastify), its access control, audit log, metrics and run manager. */
export { createServer, openServiceStore, DEFAULT_BODY_LIMIT_BYTES, type CreateServerOptions, type SluiceServer } from "./create-server.ts";
export { RunManager, LiveRun, type LaunchOptions, type StartedRun, type NumberedEvent, type RunManagerOptions } from "./run-manager.ts";
export { hashToken, newToken, isRole, type Access } from "./access.ts";
export { ROLES, type Actor, type AuditEntry, type PreHandler, type Role, type RouteGroup, type ServerContext } from "./context.ts";
export { startService, type RunningService, type StartServiceOptions } from "./start-service.ts";
