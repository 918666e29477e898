/**
 * A real `sluice serve` app on loopback for tests: a temp demo workspace, the server listening on
 * 127.0.0.1:<free port>, a token per role, and helpers for JSON requests, raw paths and
 * server-sent event streams.
 */
import http from "node:http";
import { Writable } from "node:stream";
import { loadConfig, Workspace } from "../../src/index.ts";
import { createLogger } from "../../src/log.ts";
import { createServer, hashToken, newToken, type Role, type SluiceServer } from "../../src/server/index.ts";
import { createTestWorkspace, type TestWorkspace } from "../../src/testing/index.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";

/** A listening server and what a test needs around it. */
export interface ServeHarness {
  readonly tw: TestWorkspace;
  readonly ws: Workspace;
  readonly server: SluiceServer;
  readonly base: string;
  readonly tokens: Readonly<Record<Role, string>>;
  /** Everything the server logged (JSON lines). */
  logs(): string;
  /** `fetch(base + path)` with the role's bearer token (none when `role` is null). */
  request(path: string, init?: RequestInit & { role?: Role | null }): Promise<Response>;
  /** A request with the path sent exactly as written (fetch would normalise `..`). */
  raw(method: string, path: string, opts?: { role?: Role; body?: string; headers?: Record<string, string> }): Promise<{ status: number; body: string }>;
  close(): Promise<void>;
}

/** Starts a server on a fresh demo workspace (or on `reuse`'s workspace folder, for restart tests). */
export async function startServe(opts: { bodyLimitBytes?: number; reuse?: TestWorkspace; clock?: () => number; anonymousAuditsPerMinute?: number } = {}): Promise<ServeHarness> {
  const tw = opts.reuse ?? createTestWorkspace(DEMO_FILES);
  let logText = "";
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logText += chunk.toString();
      cb();
    },
  });
  const log = createLogger({ level: "debug", destination: sink });
  const ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }), { logger: log });
  const server = await createServer({ workspace: ws, log, ...(opts.bodyLimitBytes ? { bodyLimitBytes: opts.bodyLimitBytes } : {}), ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.anonymousAuditsPerMinute === undefined ? {} : { anonymousAuditsPerMinute: opts.anonymousAuditsPerMinute }) });
  const tokens = {} as Record<Role, string>;
  for (const role of ["viewer", "operator", "admin"] as const) {
    const token = newToken();
    const name = `${role}-${Math.random().toString(36).slice(2, 8)}`;
    await server.service.createToken({ name, role, hash: hashToken(token), createdAt: Date.now() });
    tokens[role] = token;
  }
  const base = await server.app.listen({ port: 0, host: "127.0.0.1" });
  const auth = (role: Role | null | undefined): Record<string, string> => (role ? { authorization: `Bearer ${tokens[role]}` } : {});
  return {
    tw,
    ws,
    server,
    base,
    tokens,
    logs: () => logText,
    request: (path, init = {}) => {
      const { role = "viewer", headers, ...rest } = init;
      return fetch(base + path, { ...rest, headers: { ...auth(role), ...(headers as Record<string, string> | undefined) } });
    },
    raw: (method, path, o = {}) =>
      new Promise((resolve, reject) => {
        const u = new URL(base);
        const req = http.request({ host: u.hostname, port: u.port, method, path, headers: { ...auth(o.role ?? "operator"), ...o.headers } }, (res) => {
          let body = "";
          res.on("data", (d: Buffer) => (body += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("error", reject);
        req.end(o.body);
      }),
    async close() {
      await server.close();
      await ws.close();
    },
  };
}

/** One parsed server-sent event. */
export interface SseMessage {
  id: number;
  event: string;
  data: any;
}

/**
 * Reads an event stream to its end, handing each event to `onEvent` as it arrives (so a test can
 * act on `step.started`), and returns them all.
 */
export async function readSse(res: Response, onEvent?: (m: SseMessage) => void | Promise<void>): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let cut: number;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const fields = new Map<string, string>();
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const i = line.indexOf(": ");
        if (i > 0) fields.set(line.slice(0, i), line.slice(i + 2));
      }
      if (!fields.has("data")) continue;
      const m = { id: Number(fields.get("id")), event: fields.get("event") ?? "message", data: JSON.parse(fields.get("data")!) };
      out.push(m);
      await onEvent?.(m);
    }
  }
  return out;
}
