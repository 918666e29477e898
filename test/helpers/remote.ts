import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { Redis } from "ioredis";
import { startCli, until, type CliResult } from "./cli.ts";

/** The shared Redis of this machine and CI (never flushed: tests use their own key prefix). */
export const SHARED_REDIS = "redis://127.0.0.1:6379";

/** A key prefix no other test uses. */
export function uniquePrefix(): string {
  return `sluice-test-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** A running `sluice worker`. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly label: string;
  readonly done: Promise<CliResult>;
  stderr(): string;
}

/** Starts `sluice worker` and resolves once it takes jobs. */
export async function startWorker(args: readonly string[], opts: { cwd: string; env: Record<string, string> }): Promise<WorkerProcess> {
  const w = startCli(["worker", ...args], opts);
  let exited = false;
  void w.done.then(() => (exited = true));
  await until(() => / ready: /.test(w.stderrSoFar()) || exited, "the worker to be ready");
  if (exited) throw new Error(`sluice worker exited before it was ready:\n${w.stderrSoFar()}`);
  const label = /(?:^|\n)worker (\S+) ready: /.exec(w.stderrSoFar())![1]!;
  return { child: w.child, pid: w.child.pid!, label, done: w.done, stderr: w.stderrSoFar };
}

/** Stops a worker if it still runs (SIGKILL: tests do not wait for graceful shutdowns they do not test). */
export async function killWorker(w: WorkerProcess | undefined): Promise<void> {
  if (!w || w.child.exitCode !== null || w.child.signalCode !== null) return;
  w.child.kill("SIGKILL");
  await w.done;
}

/** Deletes every key under a test prefix. */
export async function dropPrefix(url: string, prefix: string): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await r.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== "0");
  } finally {
    r.disconnect();
  }
}

/** Resolves with the first value `probe()` returns that is not undefined, probing every 10 ms (real state, e.g. Redis). */
export async function untilValue<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server of this test alone (never the shared one). */
export interface OwnRedis {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a throwaway redis-server on `port` (no persistence) and resolves once it answers. */
export async function startOwnRedis(port: number): Promise<OwnRedis> {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await until(() => /Ready to accept connections/.test(out) || child.exitCode !== null, "redis-server to start");
  if (child.exitCode !== null) throw new Error(`redis-server exited:\n${out}`);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
