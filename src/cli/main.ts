import { ERROR_CODES, SluiceError } from "../errors.ts";
import { cacheCommand } from "./commands/cache.ts";
import { lsCommand, runsCommand, showCommand } from "./commands/inspect.ts";
import { explainCommand, runCommand } from "./commands/run.ts";
import { auditCommand } from "./commands/audit.ts";
import { serveCommand } from "./commands/serve.ts";
import { tokenCommand } from "./commands/token.ts";
import { schedulesCommand } from "./commands/schedules.ts";
import { workerCommand } from "./commands/worker.ts";
import { processIo, type CliIo } from "./io.ts";
import { packageVersion } from "../util/package-root.ts";

/** Help text of `sluice`. */
export const MAIN_HELP = `Usage: sluice <command> [options]

Pipelines of TypeScript steps, cached by content: a step whose code, params, inputs and declared
env are unchanged is not run again.

Commands:
  run <pipeline>       run a pipeline (npm run pipeline -- <pipeline>)
  ls                   list the workspace's pipelines
  runs                 run history
  show <runId>         one run, step by step
  explain <pipeline>   per step: cache hit, or exactly what changed
  cache stats|verify|prune   look after the store
  serve                the service: HTTP API, cron schedules, model endpoints (npm run serve)
  token create|list|revoke   bearer tokens for the service (roles viewer, operator, admin)
  audit                the service's audit log
  schedules            cron schedules: next fire times, last fire
  worker               run remote steps from a Redis queue (sluice worker --queue gpu)

Every command takes --help, --json and --workspace DIR.
Exit codes: 0 ok, 1 run failed, 2 definition/config/usage error, 130 interrupted.
`;

const COMMANDS: Record<string, (argv: string[], io: CliIo) => Promise<number>> = {
  run: runCommand,
  ls: lsCommand,
  runs: runsCommand,
  show: showCommand,
  explain: explainCommand,
  cache: cacheCommand,
  serve: serveCommand,
  token: tokenCommand,
  audit: auditCommand,
  schedules: schedulesCommand,
  worker: workerCommand,
};

/** Runs one CLI invocation; returns the exit code. Errors become messages, never stack traces. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    (cmd ? io.out : io.err)(MAIN_HELP);
    return cmd ? 0 : 2;
  }
  if (cmd === "--version" || cmd === "-v") {
    io.out(`${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[cmd];
  if (!command) {
    io.err(`sluice: unknown command "${cmd}".\n\n${MAIN_HELP}`);
    return 2;
  }
  const json = rest.includes("--json");
  try {
    return await command(rest, io);
  } catch (err) {
    const e = err instanceof SluiceError ? err : new SluiceError("SLUICE_INTERNAL", `internal error: ${(err as Error)?.stack ?? String(err)}`, {}, { cause: err });
    if (json) io.out(`${JSON.stringify({ error: { code: e.code, message: e.message, details: e.details } }, null, 2)}\n`);
    else io.err(`${e.code}: ${e.message}\n`);
    return ERROR_CODES[e.code].exit;
  }
}
