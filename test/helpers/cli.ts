import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { sluicePackageRoot } from "sluice/testing";

const BIN = path.join(sluicePackageRoot(), "bin", "sluice.js");

/** Output of one CLI invocation. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `sluice <args>` in a workspace; `done` resolves when it exits. */
export function startCli(args: readonly string[], opts: { cwd: string; env?: Record<string, string> }): { child: ChildProcess; done: Promise<CliResult>; stderrSoFar(): string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env, FORCE_COLOR: "0" }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, stderrSoFar: () => stderr };
}

/** Runs `sluice <args>` to completion. */
export function runCli(args: readonly string[], opts: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
  return startCli(args, opts).done;
}

/** Runs `sluice <args> --json` and parses stdout. */
export async function runJson<T = any>(args: readonly string[], opts: { cwd: string; env?: Record<string, string> }): Promise<{ code: number | null; json: T; stderr: string }> {
  const r = await runCli([...args, "--json"], opts);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`sluice ${args.join(" ")} --json printed no JSON (exit ${r.code}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return { code: r.code, json, stderr: r.stderr };
}

/** Resolves once `predicate()` holds, checking whenever `poll` fires (file events, output). */
export function until(predicate: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (predicate()) return resolve();
    const started = Date.now();
    const check = setInterval(() => {
      if (predicate()) {
        clearInterval(check);
        resolve();
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(check);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 10);
  });
}
