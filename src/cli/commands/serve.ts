import { loadConfig } from "../../config/index.ts";
import { createLogger } from "../../log.ts";
import { startService } from "../../server/start-service.ts";
import { Workspace } from "../../workspace/index.ts";
import { intFlag, parseCommand } from "../args.ts";
import type { CliIo } from "../io.ts";
import { printJson } from "./shared.ts";

/** Help text of `sluice serve`. */
export const SERVE_HELP = `Usage: sluice serve [--port N] [--host H] [--json]
       npm run serve

Runs the service: the HTTP API under /api/v1 (trigger runs, follow their events, cancel; runs,
pipelines, models, endpoints, schedules, audit), the pipelines' cron schedules and the model
endpoints, until Ctrl-C (SIGINT) or SIGTERM, which cancel running runs and stop cleanly.

Requests need a bearer token: create one with \`sluice token create --role operator --name ci\`.
/healthz, /readyz, /metrics (Prometheus) and /api/v1/openapi.json need none.

Options:
      --port N         port to listen on (default: SLUICE_PORT, the config's port, or 7070; 0 picks a free one)
      --host H         address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
      --json           print {"url": …} on one line once listening
  -w, --workspace DIR  project folder (default: current folder)
  -h, --help           show this help
`;

/** `sluice serve`. */
export async function serveCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseCommand("serve", argv, { port: { type: "string", short: "p" }, host: { type: "string" } });
  if (values.help) {
    io.out(SERVE_HELP);
    return 0;
  }
  const port = intFlag("serve", "port", values.port, 0);
  const config = await loadConfig({ root: values.workspace, flags: port === undefined ? {} : { port } });
  const log = createLogger({ level: config.logLevel });
  const ws = await Workspace.open(config, { logger: log });
  try {
    const service = await startService({ workspace: ws, log, ...(values.host ? { host: values.host } : {}) });
    if (values.json) printJson(io, { url: service.url, workspace: config.root });
    else io.out(`sluice serve: listening on ${service.url} (workspace ${config.root}); Ctrl-C stops\n`);
    if ((await service.server.service.listTokens()).every((t) => t.revokedAt !== null)) {
      io.err("sluice serve: no tokens yet, so every /api/v1 request is refused. Create one: sluice token create --role operator --name ci\n");
    }
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const on = (s: NodeJS.Signals): void => {
        process.off("SIGINT", on);
        process.off("SIGTERM", on);
        resolve(s);
      };
      process.on("SIGINT", on);
      process.on("SIGTERM", on);
    });
    io.err(`sluice serve: ${signal}, stopping (running runs are cancelled)\n`);
    await service.close();
    io.err("sluice serve: stopped\n");
    return 0;
  } finally {
    await ws.close();
  }
}
