import { loadConfig, type ConfigFlags } from "../../config/index.ts";
import { deferredLogger } from "../../log.ts";
import { Workspace } from "../../workspace/index.ts";
import type { CliIo } from "../io.ts";

/** Opens the workspace named by `--workspace` (or the current folder). */
export async function openWorkspace(workspace: string | undefined, flags: ConfigFlags = {}): Promise<Workspace> {
  const config = await loadConfig({ root: workspace, flags });
  return Workspace.open(config, { logger: deferredLogger({ level: config.logLevel }) });
}

/** Runs `fn` with an open workspace and closes it afterwards. */
export async function withWorkspace<T>(workspace: string | undefined, flags: ConfigFlags, fn: (ws: Workspace) => Promise<T>): Promise<T> {
  const ws = await openWorkspace(workspace, flags);
  try {
    return await fn(ws);
  } finally {
    await ws.close();
  }
}

/** Prints one JSON document on stdout. */
export function printJson(io: CliIo, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}
