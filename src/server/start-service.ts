/**
 * The whole `sluice serve` process minus the command line: the app with every route group
 * (core, endpoints, schedules), listening; the cron schedules launching through the run manager;
 * and one `close()` that stops schedules, runs, endpoints and the listener in that order.
 */
import type { Logger } from "../log.ts";
import { startSchedules, type RunningSchedules } from "../triggers/index.ts";
import type { Workspace } from "../workspace/index.ts";
import { createServer, type SluiceServer } from "./create-server.ts";
import { endpointRoutes } from "./routes/endpoints.ts";
import { scheduleRoutes } from "./routes/schedules.ts";

/** Options of `startService`. */
export interface StartServiceOptions {
  readonly workspace: Workspace;
  readonly log: Logger;
  /** @default Date.now */
  readonly clock?: () => number;
  /** @default the workspace's configured port (7070) */
  readonly port?: number;
  /** @default "127.0.0.1" (loopback only; pass "0.0.0.0" to listen on every interface) */
  readonly host?: string;
  /** @default DEFAULT_BODY_LIMIT_BYTES */
  readonly bodyLimitBytes?: number;
}

/** A running service. */
export interface RunningService {
  /** `http://host:port` it listens on. */
  readonly url: string;
  readonly server: SluiceServer;
  readonly schedules: RunningSchedules;
  /** Stops firing schedules, cancels running runs, closes endpoints, the listener and the stores it opened. Idempotent. */
  close(): Promise<void>;
}

/** Builds the app with every route group, starts listening and starts the cron schedules. */
export async function startService(opts: StartServiceOptions): Promise<RunningService> {
  const clock = opts.clock ?? Date.now;
  const server = await createServer({ workspace: opts.workspace, log: opts.log, clock, routeGroups: [endpointRoutes(), scheduleRoutes], ...(opts.bodyLimitBytes ? { bodyLimitBytes: opts.bodyLimitBytes } : {}) });
  let schedules: RunningSchedules | undefined;
  try {
    const url = await server.app.listen({ port: opts.port ?? opts.workspace.config.port, host: opts.host ?? "127.0.0.1" });
    const runs = server.runs;
    schedules = await startSchedules({
      workspace: opts.workspace,
      log: opts.log,
      clock,
      launch: (req) => runs.start(req.pipeline, { ...req.params }, { trigger: "cron", actor: `schedule:${req.scheduleId}` }),
    });
    const running = schedules;
    let closing: Promise<void> | undefined;
    return {
      url,
      server,
      schedules: running,
      close: () =>
        (closing ??= (async () => {
          await running.stop();
          await server.close();
          // Runs cancelled by the close end their fires in the ledger: wait for those writes.
          await running.settled();
        })()),
    };
  } catch (err) {
    await schedules?.stop();
    await server.close();
    throw err;
  }
}
