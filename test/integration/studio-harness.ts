/**
 * The Studio's browser tests and bench: a real `sluice serve` app (createServer with the
 * endpoints and schedules route groups) on loopback over a temp workspace holding the demo
 * pipelines, a small pipeline with a map, a failing step and a skipped step, and (optionally)
 * the example ML pipelines; a token per role; and Debian's Chromium driven by playwright-core.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { loadConfig, Workspace } from "../../src/index.ts";
import { silentLogger } from "../../src/log.ts";
import { createServer, hashToken, newToken, type Role, type SluiceServer } from "../../src/server/index.ts";
import { endpointRoutes } from "../../src/server/routes/endpoints.ts";
import { scheduleRoutes } from "../../src/server/routes/schedules.ts";
import { createTestWorkspace, sluicePackageRoot, type TestWorkspace } from "../../src/testing/index.ts";
import { DEMO_FILES } from "../fixtures/demo-workspace.ts";

const ROOT = sluicePackageRoot();

/** Where the tests leave screenshots (git-ignored). */
export const SCREENSHOTS = path.join(ROOT, "test-results", "studio");

/** A pipeline with every step status: a map (cached or ran per element), a failure, a skip by `when`. */
export const MIXED_FILES: Record<string, string> = {
  "steps/studio.ts": `import { defineStep, port, Type } from "sluice";

export const numbers = defineStep({
  name: "numbers",
  outputs: { list: port.json<number[]>() },
  params: Type.Object({ n: Type.Integer({ default: 12 }) }),
  run: ({ params, log }) => {
    log("info", "made the numbers", { n: params.n });
    return { list: Array.from({ length: params.n }, (_, i) => i) };
  },
});

export const square = defineStep({
  name: "square",
  inputs: { x: port.json<number>() },
  outputs: { y: port.json<number>() },
  run: ({ inputs }) => ({ y: inputs.x * inputs.x }),
});

export const sum = defineStep({
  name: "sum",
  inputs: { ys: port.json<number[]>() },
  outputs: { total: port.json<number>() },
  run: ({ inputs, metric, log }) => {
    let acc = 0;
    inputs.ys.forEach((y, i) => metric("running_total", (acc += y), i));
    log("info", "summed", { total: acc });
    return { total: acc };
  },
});

export const boom = defineStep({
  name: "boom",
  inputs: { total: port.json<number>() },
  outputs: { out: port.json<number>() },
  run: () => {
    throw new Error("boom on purpose");
  },
});

export const echo = defineStep({
  name: "echo",
  inputs: { x: port.json<number>() },
  outputs: { out: port.json<number>() },
  run: ({ inputs }) => ({ out: inputs.x }),
});
`,
  "pipelines/mixed.ts": `import { definePipeline, Type } from "sluice";
import { boom, echo, numbers, square, sum } from "../steps/studio.ts";

export default definePipeline({
  name: "mixed",
  description: "a map, a failure and a skipped branch",
  params: Type.Object({ n: Type.Integer({ minimum: 1, maximum: 1000, default: 12 }) }),
  build(p, params) {
    const nums = p.step("numbers", numbers, { params: { n: params.n } });
    const sq = p.map("square", square, { over: nums.outputs.list, as: "x", key: (x) => String(x) });
    const total = p.step("sum", sum, { inputs: { ys: sq.outputs.y } });
    const b = p.step("boom", boom, { inputs: { total: total.outputs.total } });
    p.step("after-boom", echo, { inputs: { x: b.outputs.out } });
    p.step("negative", echo, { inputs: { x: total.outputs.total }, when: p.when(total.outputs.total, (t) => t < 0, "the total is negative") });
  },
});
`,
};

/** Copies the ML example pipelines (breast-cancer) and what they need into a test workspace. */
export function addMlExamples(tw: TestWorkspace): void {
  for (const pkg of ["onnx-proto", "onnxruntime-node"]) fs.symlinkSync(path.join(ROOT, "node_modules", pkg), tw.path(`node_modules/${pkg}`), "dir");
  for (const rel of ["pipelines/breast-cancer.ts", "steps/ml", "data/ml/breast_cancer.csv"]) fs.cpSync(path.join(ROOT, rel), tw.path(rel), { recursive: true });
}

/** Copies the many-models example into a test workspace. */
export function addManyModels(tw: TestWorkspace): void {
  fs.cpSync(path.join(ROOT, "steps/forecast"), tw.path("steps/forecast"), { recursive: true });
  fs.cpSync(path.join(ROOT, "steps/ml/rng.ts"), tw.path("steps/ml/rng.ts"));
  fs.cpSync(path.join(ROOT, "pipelines/many-models.ts"), tw.path("pipelines/many-models.ts"));
}

/** A listening server, a token per role and a browser. */
export interface StudioHarness {
  readonly tw: TestWorkspace;
  readonly ws: Workspace;
  readonly server: SluiceServer;
  readonly base: string;
  readonly tokens: Readonly<Record<Role, string>>;
  /** `fetch(base + /api/v1 + path)` as `role`, JSON answers parsed. */
  api<T = any>(path: string, init?: { role?: Role; method?: string; body?: unknown }): Promise<{ status: number; json: T }>;
  /** Starts a run over HTTP as an operator and waits for it to finish; returns its id. */
  runToEnd(pipeline: string, params?: Record<string, unknown>): Promise<string>;
  /** Uncaught page errors and console errors of every page opened so far (expected: none). */
  readonly pageErrors: string[];
  /** A fresh browser context (its own profile folder) at 1280×800 unless told otherwise. */
  browser(opts?: { width?: number; height?: number; dark?: boolean }): Promise<BrowserContext>;
  close(): Promise<void>;
}

const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Starts the server over a workspace laid out by `layout` (demo + mixed files are always there). */
export async function startStudio(layout: (tw: TestWorkspace) => void = () => undefined): Promise<StudioHarness> {
  const tw = createTestWorkspace({ ...DEMO_FILES, ...MIXED_FILES });
  layout(tw);
  const ws = await Workspace.open(await loadConfig({ root: tw.root, env: {} }), { logger: silentLogger() });
  const server = await createServer({ workspace: ws, log: silentLogger(), routeGroups: [scheduleRoutes, endpointRoutes({ serviceOptions: { refreshMs: 0 } })] });
  const tokens = {} as Record<Role, string>;
  for (const role of ["viewer", "operator", "admin"] as const) {
    const token = newToken();
    await server.service.createToken({ name: `${role}-studio`, role, hash: hashToken(token), createdAt: Date.now() });
    tokens[role] = token;
  }
  const base = await server.app.listen({ port: 0, host: "127.0.0.1" });
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];
  const profiles: string[] = [];
  const api: StudioHarness["api"] = async (p, init = {}) => {
    const res = await fetch(`${base}/api/v1${p}`, {
      method: init.method ?? "GET",
      headers: { authorization: `Bearer ${tokens[init.role ?? "viewer"]}`, ...(init.body === undefined ? {} : { "content-type": "application/json" }) },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  };
  return {
    tw,
    ws,
    server,
    base,
    tokens,
    api,
    pageErrors,
    async runToEnd(pipeline, params = {}) {
      const res = await api<{ runId: string }>(`/pipelines/${pipeline}/runs`, { role: "operator", method: "POST", body: { params } });
      if (res.status !== 202) throw new Error(`start ${pipeline}: ${res.status} ${JSON.stringify(res.json)}`);
      await server.runs.get(res.json.runId)!.done;
      return res.json.runId;
    },
    async browser(opts = {}) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-studio-chromium-"));
      profiles.push(dir);
      const ctx = await chromium.launchPersistentContext(dir, {
        executablePath: "/usr/bin/chromium",
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
        colorScheme: opts.dark ? "dark" : "light",
      });
      contexts.push(ctx);
      const watch = (p: Page): void => {
        p.on("pageerror", (err) => pageErrors.push(`${p.url()}: ${err.message}`));
        p.on("console", (m) => m.type() === "error" && pageErrors.push(`${p.url()}: console: ${m.text()}`));
      };
      ctx.pages().forEach(watch);
      ctx.on("page", watch);
      return ctx;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await server.close();
      await ws.close();
      for (const d of profiles) fs.rmSync(d, { recursive: true, force: true });
      tw.remove();
    },
  };
}

/** Opens the Studio and signs in with `token` through the sign-in form. */
export async function signIn(page: Page, base: string, token: string, hash = "#/runs"): Promise<void> {
  await page.goto(`${base}/${hash}`);
  await page.locator("#signin input[name=token]").fill(token);
  await page.locator("#signin button[type=submit]").click();
  await page.locator("#who [data-role]").waitFor();
}

/** Saves a full-page screenshot under test-results/studio/. */
export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
