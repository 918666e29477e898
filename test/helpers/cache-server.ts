import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { until } from "./cli.ts";

/** A real `turborepo-remote-cache` server on loopback, storing artifacts in a temp folder. */
export interface CacheServer {
  readonly url: string;
  readonly token: string;
  /** Folder of its local storage; an artifact lives at `<storagePath>/<team>/<name>`. */
  readonly storagePath: string;
  /** Requests the server logged so far (method and URL), oldest first. */
  requests(): Array<{ method: string; url: string }>;
  /**
   * Resolves once the log has caught up with every request answered so far: a marker request
   * is sent and its log line awaited (the server logs in order, on a pipe separate from HTTP).
   */
  logged(): Promise<void>;
  /** The file holding an artifact of a team on the server's disk. */
  artifactPath(team: string, name: string): string;
  /** Kills the server (SIGKILL: its graceful close waits for idle keep-alive sockets) and waits for the process to end. */
  stop(): Promise<void>;
}

/**
 * A server in a child process that answers every request with `status`, or never answers (in a
 * child because a run blocks its thread while it waits for the cache). Counts requests; `stop` ends it.
 */
export async function startStatusServer(status: number | "never"): Promise<{ url: string; requests(): number; stop(): Promise<void> }> {
  const port = await freePort();
  const answer = status === "never" ? "" : `s.writeHead(${status}, { "content-type": "application/json" }).end("{}");`;
  const code = `require("node:http").createServer((q, s) => { q.resume(); process.stdout.write("."); ${answer} }).listen(${port}, "127.0.0.1", () => process.stdout.write("listening\\n"));`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("listening")) resolve();
    });
    child.once("exit", (c) => reject(new Error(`status server exited with ${c}`)));
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => (out.split("listening\n")[1] ?? "").length,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A port nobody listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function answers(url: string, token: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v8/artifacts/status?slug=probe`, { headers: { authorization: `Bearer ${token}` } });
    return res.status === 200;
  } catch {
    return false;
  }
}

/**
 * Starts the server from node_modules (its own CLI) on a free loopback port, and resolves once it
 * answers its status route. Extra env (e.g. `READ_ONLY: "true"`) goes to the server.
 */
export async function startCacheServer(opts: { token?: string; env?: Record<string, string> } = {}): Promise<CacheServer> {
  const token = opts.token ?? `tok-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const storagePath = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-cache-server-"));
  const port = await freePort();
  const cli = createRequire(import.meta.url).resolve("turborepo-remote-cache/package.json").replace(/package\.json$/, "dist/cli.js");
  const child: ChildProcess = spawn(process.execPath, [cli], {
    env: {
      PATH: process.env.PATH ?? "", NODE_ENV: "production", HOST: "127.0.0.1", PORT: String(port), TURBO_TOKEN: token,
      STORAGE_PROVIDER: "local", STORAGE_PATH: storagePath, STORAGE_PATH_USE_TMP_FOLDER: "false", LOG_LEVEL: "info", ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const requests: Array<{ method: string; url: string }> = [];
  let markers = 0;
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString();
    const lines = out.split("\n");
    out = lines.pop()!;
    for (const line of lines) {
      try {
        // Its pino logger names the message field `message`.
        const rec = JSON.parse(line) as { message?: string; req?: { method: string; url: string } };
        if (rec.message === "incoming request" && rec.req) requests.push({ method: rec.req.method, url: rec.req.url });
      } catch {
        /* not a log record */
      }
    }
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  while (!(await answers(url, token))) {
    if (child.exitCode !== null) throw new Error(`turborepo-remote-cache exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() - started > 20_000) {
      child.kill("SIGKILL");
      throw new Error(`turborepo-remote-cache did not answer on ${url} within 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25)); // polling a real process until it listens
  }
  return {
    url, token, storagePath,
    requests: () => [...requests],
    async logged() {
      const marker = `marker-${++markers}`;
      await (await fetch(`${url}/v8/artifacts/${marker}?slug=markers`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer();
      await until(() => requests.some((r) => r.url.startsWith(`/v8/artifacts/${marker}?`)), "the cache server's log");
    },
    artifactPath: (team, name) => path.join(storagePath, team, name),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
      fs.rmSync(storagePath, { recursive: true, force: true });
    },
  };
}
