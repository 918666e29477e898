import { ERROR_CODES, SluiceError } from "../errors.ts";
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

type Command = (argv: string[], io: CliIo) => Promise<number>;

/**
 * Each command's module is imported only when that command runs, so `sluice run` does not load
 * the HTTP server, the queue client or the studio (start-up time is part of every cached run).
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import("./commands/run.ts")).runCommand,
  ls: async () => (await import("./commands/inspect.ts")).lsCommand,
  runs: async () => (await import("./commands/inspect.ts")).runsCommand,
  show: async () => (await import("./commands/inspect.ts")).showCommand,
  explain: async () => (await import("./commands/run.ts")).explainCommand,
  cache: async () => (await import("./commands/cache.ts")).cacheCommand,
  serve: async () => (await import("./commands/serve.ts")).serveCommand,
  token: async () => (await import("./commands/token.ts")).tokenCommand,
  audit: async () => (await import("./commands/audit.ts")).auditCommand,
  schedules: async () => (await import("./commands/schedules.ts")).schedulesCommand,
  worker: async () => (await import("./commands/worker.ts")).workerCommand,
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
  const load = COMMANDS[cmd];
  if (!load) {
    io.err(`sluice: unknown command "${cmd}".\n\n${MAIN_HELP}`);
    return 2;
  }
  const json = rest.includes("--json");
  try {
    const command = await load();
    return await command(rest, io);
  } catch (err) {
    const e = err instanceof SluiceError ? err : new SluiceError("SLUICE_INTERNAL", `internal error: ${(err as Error)?.stack ?? String(err)}`, {}, { cause: err });
    if (json) io.out(`${JSON.stringify({ error: { code: e.code, message: e.message, details: e.details } }, null, 2)}\n`);
    else io.err(`${e.code}: ${e.message}\n`);
    return ERROR_CODES[e.code].exit;
  }
}
