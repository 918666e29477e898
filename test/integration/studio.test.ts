/**
 * The Studio in a real browser (Debian's Chromium through playwright-core) against a real
 * `sluice serve` app on loopback, with real runs: the demo pipelines, a pipeline with a map, a
 * failure and a skipped branch, and two runs of the breast-cancer example. Screenshots of the
 * main pages land in test-results/studio/ (git-ignored).
 */
import fs from "node:fs";
import type { Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { addMlExamples, screenshot, signIn, startStudio, type StudioHarness } from "./studio-harness.ts";

// Browser globals inside page.evaluate callbacks (the tests are type-checked without the DOM lib).
declare const document: any;
declare const window: any;
declare function getComputedStyle(el: unknown): any;

let h: StudioHarness;
const runs = { demo: "", demoCached: "", mixed: "", bcDefault: "", bcSlower: "" };

beforeAll(async () => {
  h = await startStudio(addMlExamples);
  runs.demo = await h.runToEnd("demo");
  runs.demoCached = await h.runToEnd("demo");
  runs.mixed = await h.runToEnd("mixed");
  runs.bcDefault = await h.runToEnd("breast-cancer");
  runs.bcSlower = await h.runToEnd("breast-cancer", { gbdtLearningRate: 0.05 });
  // An endpoint serving the registered model, for the endpoints page.
  const dep = await h.api("/endpoints/bc/traffic", { role: "admin", method: "PUT", body: { deployments: [{ deployment: "blue", model: "breast-cancer", version: 1, trafficPercent: 100 }] } });
  expect(dep.status, JSON.stringify(dep.json)).toBe(200);
  const scored = await h.api("/endpoints/bc/score", { role: "operator", method: "POST", body: { rows: [Array(30).fill(0.5), Array(30).fill(1)] } });
  expect(scored.status, JSON.stringify(scored.json)).toBe(200);
}, 240_000);

afterAll(async () => {
  await h?.close();
});

afterEach(() => {
  // No script error, failed request or blocked resource (CSP) on any page of the test.
  expect(h.pageErrors.splice(0)).toEqual([]);
});

async function page(role: "viewer" | "operator" | "admin", hash: string, opts: { width?: number; height?: number; dark?: boolean } = {}): Promise<Page> {
  const ctx = await h.browser(opts);
  const p = ctx.pages()[0] ?? (await ctx.newPage());
  await signIn(p, h.base, h.tokens[role], hash);
  return p;
}

/** Each DAG node's step id → `{ status, fill, expected }`: its data-status, its face colour and the colour of that status in the stylesheet. */
async function dagColours(p: Page): Promise<Record<string, { status: string; fill: string; expected: string }>> {
  return p.locator("#run-dag svg.dag").evaluate((svg) => {
    const colourOf = (status: string): string => {
      const probe = document.createElement("span");
      probe.style.color = `var(--st-${status})`;
      document.body.append(probe);
      const c = getComputedStyle(probe).color;
      probe.remove();
      return c;
    };
    const out: Record<string, { status: string; fill: string; expected: string }> = {};
    for (const g of svg.querySelectorAll("g.node")) {
      const status = g.getAttribute("data-status")!;
      out[g.getAttribute("data-step")!] = { status, fill: getComputedStyle(g.querySelector("rect.face")!).fill, expected: colourOf(status) };
    }
    return out;
  });
}

/** Step id → status of the run's top-level steps, as the API reports them. */
async function apiStatuses(runId: string): Promise<Record<string, string>> {
  const { json } = await h.api<{ steps: Array<{ stepId: string; status: string }> }>(`/runs/${runId}`);
  return Object.fromEntries(json.steps.filter((s) => !s.stepId.includes("[")).map((s) => [s.stepId, s.status]));
}

describe("Studio (Chromium against sluice serve on loopback)", () => {
  it("lists the runs, and filters them by pipeline, status, trigger and actor", async () => {
    const p = await page("viewer", "#/runs");
    const table = p.locator("#runs-table");
    await table.waitFor();
    for (const id of Object.values(runs)) await expect(table.locator(`tr[data-run="${id}"]`).count()).resolves.toBe(1);
    await expect(table.locator(`tr[data-run="${runs.mixed}"] .badge`).textContent()).resolves.toBe("failed");
    await screenshot(p, "runs");

    await p.locator("#run-filters select[name=status]").selectOption("failed");
    await p.waitForFunction(() => document.querySelectorAll("#runs-table tbody tr").length === 1);
    await expect(p.locator("#runs-table tbody tr").getAttribute("data-run")).resolves.toBe(runs.mixed);

    await p.goto(`${h.base}/#/runs?pipeline=demo&trigger=http&actor=operator-studio`);
    await p.waitForFunction((ids) => [...document.querySelectorAll("#runs-table tbody tr")].map((r) => r.getAttribute("data-run")).sort().join() === ids, [runs.demo, runs.demoCached].sort().join());
    // A run started elsewhere shows up in the open list, unfinished runs move on to their end.
    await p.goto(`${h.base}/#/runs?pipeline=mixed`);
    await table.locator(`tr[data-run="${runs.mixed}"]`).waitFor();
    const another = await h.runToEnd("mixed", { n: 3 });
    await table.locator(`tr[data-run="${another}"] .badge`).waitFor();
    await expect(table.locator(`tr[data-run="${another}"] .badge`).textContent()).resolves.toBe("failed");

    await p.goto(`${h.base}/#/runs?trigger=cron`);
    await p.locator(".page[data-page=runs] .notice").waitFor();
    await expect(p.locator("#runs-table").count()).resolves.toBe(0);

    // The actor filter is the server's: the page asks for it, and gets only that actor's runs.
    const byAdmin = await h.api<{ runId: string }>("/pipelines/demo/runs", { role: "admin", method: "POST", body: {} });
    await h.server.runs.get(byAdmin.json.runId)!.done;
    const asked: string[] = [];
    p.on("request", (r) => asked.push(r.url()));
    await p.goto(`${h.base}/#/runs?actor=admin-studio`);
    await p.waitForFunction((id) => [...document.querySelectorAll("#runs-table tbody tr")].map((r) => r.getAttribute("data-run")).join() === id, byAdmin.json.runId);
    expect(asked.some((u) => /\/api\/v1\/runs\?(.*&)?actor=admin-studio(&|$)/.test(u))).toBe(true);
    const actors = await p.locator("#run-filters select[name=actor] option").allTextContents();
    expect(actors).toEqual(expect.arrayContaining(["admin-studio", "operator-studio"]));
    await p.locator("#run-filters select[name=actor]").selectOption("operator-studio");
    await p.waitForFunction(() => document.querySelectorAll("#runs-table tbody tr").length > 1);
    await expect(p.locator(`#runs-table tr[data-run="${byAdmin.json.runId}"]`).count()).resolves.toBe(0);
  });

  it("draws each run's DAG with the colour of each step's status as the API reports it (ran, cached, failed, skipped, a map as one node)", async () => {
    const p = await page("viewer", `#/runs/${runs.demo}`);
    for (const [runId, shot] of [[runs.demo, "run-succeeded"], [runs.demoCached, "run-cached"], [runs.mixed, "run-failed"]] as const) {
      await p.goto(`${h.base}/#/runs/${runId}`);
      await p.locator(`#run-dag g.node`).first().waitFor();
      const expected = await apiStatuses(runId);
      const drawn = await dagColours(p);
      expect(Object.fromEntries(Object.entries(drawn).map(([k, v]) => [k, v.status]))).toEqual(expected);
      for (const v of Object.values(drawn)) expect(v.fill).toBe(v.expected);
      await screenshot(p, shot);
    }
    // The statuses themselves, so a wrong API could not make this pass.
    await p.goto(`${h.base}/#/runs/${runs.mixed}`);
    await p.locator(`#run-dag g.node[data-step="boom"]`).waitFor();
    const mixed = await dagColours(p);
    expect(Object.fromEntries(Object.entries(mixed).map(([k, v]) => [k, v.status]))).toEqual({ numbers: "succeeded", square: "succeeded", sum: "succeeded", boom: "failed", "after-boom": "skipped", negative: "skipped" });
    expect(new Set(Object.values(mixed).map((v) => v.fill)).size).toBe(3);
    await expect(p.locator(`#run-dag g.node[data-step="square"]`).getAttribute("data-kind")).resolves.toBe("map");
    await expect(p.locator(`#run-dag g.node[data-step="square"] text.sub`).textContent()).resolves.toBe("12 · 12 ran");
    await expect(p.locator("#run-dag g.node").count()).resolves.toBe(6);
    // Edges are the run's own graph (dependsOn from the API), not the pipeline's default plan.
    const graph = (await h.api<{ graph: Array<{ id: string; dependsOn: string[] }> }>(`/runs/${runs.mixed}`)).json.graph;
    expect(graph.find((n) => n.id === "after-boom")!.dependsOn).toEqual(["boom"]);
    await expect(p.locator("#run-dag path.edge").count()).resolves.toBe(graph.reduce((n, s) => n + s.dependsOn.length, 0));
    const cached = await dagColours(await page("viewer", `#/runs/${runs.demoCached}`).then(async (q) => (await q.locator("#run-dag g.node").first().waitFor(), q)));
    expect(new Set(Object.values(cached).map((v) => v.status))).toEqual(new Set(["cached"]));
  });

  it("shows a step's logs, metrics and why it ran or was cached when it is clicked; a map's instances page by page", async () => {
    const p = await page("viewer", `#/runs/${runs.mixed}`);
    await p.locator(`#run-dag g.node[data-step="sum"]`).click();
    const panel = p.locator("#step-panel");
    await panel.locator('[data-why="sum"]').waitFor();
    await expect(panel.locator('[data-why="sum"]').textContent()).resolves.toContain("Why it ran: no cache entry for this key");
    await panel.locator("[data-logs] div").first().waitFor();
    await expect(panel.locator("[data-logs]").textContent()).resolves.toContain('summed {"total":506}');
    await expect(panel.locator('figure.chart[data-metric="running_total"]').count()).resolves.toBe(1);
    await expect(panel.locator('[data-field="attempts"]').textContent()).resolves.toBe("1");
    await screenshot(p, "run-step-panel");

    await p.locator(`#run-dag g.node[data-step="boom"]`).click();
    await panel.locator(".notice.error").waitFor();
    await expect(panel.locator(".notice.error").textContent()).resolves.toContain("boom on purpose");

    await p.locator(`#run-dag g.node[data-step="square"]`).click();
    await panel.locator('[data-field="counts"]').waitFor();
    await expect(panel.locator('[data-field="counts"]').textContent()).resolves.toBe("12 ran");
    await panel.locator("details.instances-box summary").click();
    await expect(panel.locator("table.instances tbody tr").count()).resolves.toBe(12);
    await panel.locator('input[name="instance-key"]').fill("11");
    await p.waitForFunction(() => document.querySelectorAll("#step-panel table.instances tbody tr").length === 1);
    await panel.locator('tr[data-instance="square[11]"] button').click();
    await panel.locator('[data-why="square[11]"]').waitFor();
    await expect(panel.locator("h2").textContent()).resolves.toContain("square[11]");

    await p.goto(`${h.base}/#/runs/${runs.demoCached}`);
    await p.locator(`#run-dag g.node[data-step="load"]`).click();
    await panel.locator('[data-why="load"]').waitFor();
    await expect(panel.locator('[data-why="load"]').textContent()).resolves.toContain("Why cached: cache hit");
  });

  it("follows a run started from the page live, from running to succeeded, without reloading", async () => {
    h.tw.write("block", "");
    const p = await page("operator", "#/pipelines");
    await p.locator('form.trigger[data-pipeline="gated"] button[data-action="trigger"]').click();
    await p.waitForURL(/#\/runs\/r/);
    const runId = decodeURIComponent(new URL(p.url()).hash.replace("#/runs/", ""));
    await p.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    await p.locator('#run-dag g.node[data-step="gate"][data-status="running"]').waitFor();
    await expect(p.locator("#live").count()).resolves.toBe(1);
    // load ran in the demo runs already, on the same file.
    await expect(p.locator('#run-dag g.node[data-step="load"]').getAttribute("data-status")).resolves.toBe("cached");
    await screenshot(p, "run-live");
    fs.rmSync(h.tw.path("block"));
    await p.locator('#run-status[data-status="succeeded"]').waitFor();
    await p.locator('#run-dag g.node[data-step="gate"][data-status="succeeded"]').waitFor();
    await expect(p.evaluate(() => (window as unknown as { marker?: number }).marker)).resolves.toBe(42);
    await expect(p.locator("#live").count()).resolves.toBe(0);
    const { json } = await h.api(`/runs/${runId}`);
    expect(json.run).toMatchObject({ status: "succeeded", trigger: "http", actor: "operator-studio" });

    // Params typed into the form are the run's params.
    await p.goto(`${h.base}/#/pipelines`);
    const form = p.locator('form.trigger[data-pipeline="demo"]');
    await form.locator('input[name="factor"]').fill("7");
    await form.locator('button[data-action="trigger"]').click();
    await p.waitForURL((u) => u.hash.startsWith("#/runs/") && u.hash !== `#/runs/${runId}`);
    await p.locator('#run-status[data-status="succeeded"]').waitFor();
    const withParams = decodeURIComponent(new URL(p.url()).hash.replace("#/runs/", ""));
    expect((await h.api(`/runs/${withParams}`)).json.run.params).toEqual({ factor: 7 });
    await expect(p.locator('#run-dag g.node[data-step="scale"]').getAttribute("data-status")).resolves.toBe("succeeded");

    // An operator cancels a running run from its page; the page shows it cancelled.
    h.tw.write("block", "");
    h.tw.write("data/input.txt", "lines for a run that is cancelled\n");
    await p.goto(`${h.base}/#/pipelines`);
    await p.locator('form.trigger[data-pipeline="gated"] button[data-action="trigger"]').click();
    await p.waitForURL((u) => u.hash.startsWith("#/runs/") && u.hash !== `#/runs/${runId}` && u.hash !== `#/runs/${withParams}`);
    await p.locator('#run-dag g.node[data-step="gate"][data-status="running"]').waitFor();
    await p.locator('#cancel-run[data-action="cancel"]').click();
    await p.locator('#run-status[data-status="cancelled"]').waitFor();
    await p.locator('#run-dag g.node[data-step="gate"][data-status="cancelled"]').waitFor();
    await screenshot(p, "run-cancelled");
    fs.rmSync(h.tw.path("block"));
  });

  it("compares two breast-cancer runs: their params diff, both sets of final metrics and the training curves overlaid", async () => {
    const p = await page("viewer", "#/runs?pipeline=breast-cancer");
    await p.locator(`input[data-select="${runs.bcDefault}"]`).check();
    await p.locator(`input[data-select="${runs.bcSlower}"]`).check();
    await p.locator("#compare-selected").click();
    const diff = p.locator("#params-diff");
    await diff.waitFor();
    const differing = await diff.locator('tr[data-differs="true"]').evaluateAll((rows) => rows.map((r) => [r.getAttribute("data-param"), [...r.querySelectorAll("td")].map((td) => td.textContent)]));
    expect(differing).toEqual([["gbdtLearningRate", ["0.1", "0.05"]]]);

    const shown = await p.locator("#metrics-diff tbody tr").evaluateAll((rows) => Object.fromEntries(rows.map((r) => [r.getAttribute("data-metric"), [...r.querySelectorAll("td")].map((td) => td.textContent)])));
    for (const [i, runId] of [runs.bcDefault, runs.bcSlower].entries()) {
      for (const step of ["evaluate-gbdt", "evaluate-logistic"]) {
        const res = await fetch(`${h.base}/api/v1/runs/${runId}/steps/${step}/outputs/metrics`, { headers: { authorization: `Bearer ${h.tokens.viewer}` } });
        const metrics = ((await res.json()) as { metrics: Record<string, number> }).metrics;
        for (const [name, v] of Object.entries(metrics)) expect(shown[`${step} › ${name}`]?.[i], `${runId} ${step} ${name}`).toBe(String(Number(v.toPrecision(4))));
      }
    }
    const loss = (await h.api<Array<{ name: string; value: number }>>(`/runs/${runs.bcSlower}/steps/train-gbdt/metrics`)).json.filter((m) => m.name === "train_loss");
    expect(shown["train-gbdt › train_loss"]?.[1]).toBe(String(Number(loss.at(-1)!.value.toPrecision(4))));
    // train-logistic was cached in the second run: its cell shows the first run's value, marked as that run's.
    const lent = (await h.api<Array<{ name: string; value: number; fromRun?: string }>>(`/runs/${runs.bcSlower}/steps/train-logistic/metrics`)).json.filter((m) => m.name === "train_loss");
    expect(lent.length).toBeGreaterThan(0);
    expect(lent.every((m) => m.fromRun === runs.bcDefault)).toBe(true);
    const value = String(Number(lent.at(-1)!.value.toPrecision(4)));
    expect(shown["train-logistic › train_loss"]).toEqual([value, `${value} ↩ ${runs.bcDefault}`]);
    await expect(p.locator('#metrics-diff tr[data-metric="train-logistic › train_loss"] td').nth(1).getAttribute("data-from-run")).resolves.toBe(runs.bcDefault);
    await expect(p.locator('#metrics-diff tr[data-metric="train-logistic › train_loss"] td').nth(0).getAttribute("data-from-run")).resolves.toBeNull();
    const chart = p.locator('figure.chart[data-metric="train-gbdt › train_loss"]');
    await expect(chart.count()).resolves.toBe(1);
    await expect(chart.locator(".u-legend .u-series").count()).resolves.toBe(3); // x + one line per run
    await screenshot(p, "compare");

    // Why the GBDT trained again: same inputs as the run before, another key, and the param that changed.
    await p.goto(`${h.base}/#/runs/${runs.bcSlower}`);
    await p.locator('#run-dag g.node[data-step="train-gbdt"]').click();
    const explain = p.locator('#step-panel [data-explain="train-gbdt"]');
    await explain.waitFor();
    await expect(explain.locator("li").allTextContents()).resolves.toEqual(["same inputs, another cache key: the step's params or code changed", "param run gbdtLearningRate: 0.1 → 0.05"]);
    // The server's explain: exactly the key component that changed, against the first run's entry.
    const keyExplain = p.locator('#step-panel [data-key-explain="train-gbdt"]');
    await keyExplain.waitFor();
    const served = (await h.api(`/runs/${runs.bcSlower}/steps/train-gbdt/explain`)).json;
    expect(served).toMatchObject({ hit: false, comparedWith: { runId: runs.bcDefault }, changes: [{ component: "param", path: "learningRate", old: 0.1, new: 0.05 }] });
    await expect(keyExplain.locator("li").allTextContents()).resolves.toEqual(["param learningRate: 0.1 → 0.05"]);
    await expect(keyExplain.locator("a").getAttribute("href")).resolves.toBe(`#/runs/${runs.bcDefault}`);
    await p.locator('#run-dag g.node[data-step="train-logistic"]').click();
    await p.locator('#step-panel [data-explain="train-logistic"]').waitFor();
    await expect(p.locator('#step-panel [data-why="train-logistic"]').textContent()).resolves.toContain("Why cached: cache hit");
    await expect(p.locator('#step-panel [data-key-explain="train-logistic"][data-hit="true"] a').getAttribute("href")).resolves.toBe(`#/runs/${runs.bcDefault}`);
    // Its metrics are the producing run's, said so.
    await expect(p.locator("#step-panel [data-metrics-from]").getAttribute("data-metrics-from")).resolves.toBe(runs.bcDefault);
    await expect(p.locator('#step-panel figure.chart[data-metric="train_loss"]').count()).resolves.toBe(1);
    await screenshot(p, "run-explain");
  });

  it("shows models with metrics and lineage, and endpoints with their deployments; only an admin gets the traffic and deploy forms", async () => {
    const admin = await page("admin", "#/models");
    const model = admin.locator('section.model[data-model="breast-cancer"]');
    await model.waitFor();
    await expect(model.locator('tr[data-version="1"] .lineage a').getAttribute("href")).resolves.toBe(`#/runs/${runs.bcDefault}`);
    await expect(model.locator('tr[data-version="1"]').textContent()).resolves.toContain("accuracy");
    await screenshot(admin, "models");
    await admin.goto(`${h.base}/#/endpoints`);
    const ep = admin.locator('section.endpoint[data-endpoint="bc"]');
    await ep.locator('tr[data-deployment="blue"]').waitFor();
    await expect(ep.locator('tr[data-deployment="blue"] [data-field="traffic"]').textContent()).resolves.toBe("100%");
    await expect(ep.locator('tr[data-deployment="blue"] [data-field="requests"]').textContent()).resolves.toBe("1");
    await expect(ep.locator('tr[data-deployment="blue"] [data-field="p99"]').textContent()).resolves.toMatch(/^≤ [0-9.]+ ms$/);
    await expect(ep.locator('button[data-action="traffic"]').count()).resolves.toBe(1);
    await expect(ep.locator('button[data-action="deploy"]').count()).resolves.toBe(1);
    await screenshot(admin, "endpoints-admin");

    // An admin deploys a second deployment and then shifts traffic to it from the page.
    await ep.locator('form.deploy input[name="deployment"]').fill("green");
    await ep.locator('form.deploy input[name="version"]').fill("1");
    await ep.locator('form.deploy input[name="share"]').fill("0");
    await ep.locator('button[data-action="deploy"]').click();
    await admin.locator('section.endpoint[data-endpoint="bc"] tr[data-deployment="green"]').waitFor();
    await admin.locator('section.endpoint[data-endpoint="bc"] form.traffic input[name="blue"]').fill("90");
    await admin.locator('section.endpoint[data-endpoint="bc"] form.traffic input[name="green"]').fill("10");
    await admin.locator('section.endpoint[data-endpoint="bc"] button[data-action="traffic"]').click();
    await admin.waitForFunction(() => document.querySelector('section.endpoint[data-endpoint="bc"] tr[data-deployment="green"] [data-field="traffic"]')?.textContent === "10%");
    const { json } = await h.api<Array<{ endpoint: string; deployments: Array<{ deployment: string; trafficPercent: number }> }>>("/endpoints");
    expect(Object.fromEntries(json.find((e) => e.endpoint === "bc")!.deployments.map((d) => [d.deployment, d.trafficPercent]))).toEqual({ blue: 90, green: 10 });
  });

  it("offers a viewer no trigger, cancel, traffic or deploy control, and the API refuses those calls with 403 anyway", async () => {
    h.tw.write("block", "");
    h.tw.write("data/input.txt", "other lines\nso the gate runs again\n");
    const running = await h.api<{ runId: string }>("/pipelines/gated/runs", { role: "operator", method: "POST", body: {} });
    const p = await page("viewer", "#/pipelines");
    await p.locator('section.pipeline[data-pipeline="demo"]').waitFor();
    await expect(p.locator("#who [data-role]").textContent()).resolves.toBe("viewer-studio · viewer");
    await expect(p.locator('[data-action="trigger"], form.trigger').count()).resolves.toBe(0);
    await screenshot(p, "pipelines-viewer");
    await p.goto(`${h.base}/#/runs/${running.json.runId}`);
    await p.locator('#run-dag g.node[data-step="gate"][data-status="running"]').waitFor();
    await expect(p.locator("#live").count()).resolves.toBe(1);
    await expect(p.locator('[data-action="cancel"]').count()).resolves.toBe(0);
    await p.goto(`${h.base}/#/endpoints`);
    await p.locator('section.endpoint[data-endpoint="bc"]').waitFor();
    await expect(p.locator('[data-action="traffic"], [data-action="deploy"], form.traffic, form.deploy').count()).resolves.toBe(0);
    await screenshot(p, "endpoints-viewer");

    const asViewer = await Promise.all([
      h.api("/pipelines/demo/runs", { role: "viewer", method: "POST", body: {} }),
      h.api(`/runs/${running.json.runId}/cancel`, { role: "viewer", method: "POST" }),
      h.api("/endpoints/bc/traffic", { role: "viewer", method: "PUT", body: { shares: { blue: 100, green: 0 } } }),
      h.api("/endpoints/bc/traffic", { role: "operator", method: "PUT", body: { shares: { blue: 100, green: 0 } } }),
    ]);
    expect(asViewer.map((r) => [r.status, r.json.error.code])).toEqual(Array(4).fill([403, "SLUICE_FORBIDDEN"]));
    fs.rmSync(h.tw.path("block"));
    await h.server.runs.get(running.json.runId)!.done;
  });

  it("signs in only with a valid token, keeps it in the tab's sessionStorage, and forgets it on sign-out", async () => {
    const ctx = await h.browser();
    const p = ctx.pages()[0] ?? (await ctx.newPage());
    await p.clock.install(); // the page's timers run only when the test moves this clock
    await p.goto(`${h.base}/#/runs`);
    await p.locator("#signin input[name=token]").fill("slc_not-a-token");
    await p.locator("#signin button[type=submit]").click();
    await p.locator("#signin .notice.error").waitFor();
    await expect(p.locator("#signin .notice.error").textContent()).resolves.toBe("That token was not accepted.");
    await expect(p.locator("#nav").isHidden()).resolves.toBe(true);
    h.pageErrors.splice(0); // the refused whoami is logged by the browser as a failed request
    await p.locator("#signin input[name=token]").fill(h.tokens.operator);
    await p.locator("#signin button[type=submit]").click();
    await p.locator("#runs-table").waitFor();
    await expect(p.evaluate(() => [window.sessionStorage.getItem("sluice.token"), window.localStorage.length])).resolves.toEqual([h.tokens.operator, 0]);
    await p.reload();
    await p.locator("#runs-table").waitFor(); // still signed in in this tab
    await p.locator("#signout").click();
    await p.locator("#signin").waitFor();
    await expect(p.evaluate(() => window.sessionStorage.getItem("sluice.token"))).resolves.toBeNull();
    // The runs page refreshes every 5 s; once signed out it must stop (it went on asking without a token: 401s).
    const asked: string[] = [];
    p.on("request", (r) => r.url().includes("/api/v1/") && asked.push(r.url()));
    await p.clock.runFor(30_000);
    expect(asked).toEqual([]);
  });

  it("serves its pages and the vendored dagre and uPlot itself (no CDN), and nothing outside its folder", async () => {
    const get = async (p: string): Promise<{ status: number; type: string; body: string }> => {
      const res = await fetch(h.base + p);
      return { status: res.status, type: res.headers.get("content-type") ?? "", body: await res.text() };
    };
    const index = await get("/");
    expect(index).toMatchObject({ status: 200, type: expect.stringMatching(/^text\/html/) });
    const page = await fetch(h.base + "/");
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.headers.get("content-security-policy")).toContain("connect-src 'self'");
    for (const p of ["/app.js", "/style.css", "/pages/run.js", "/vendor/dagre.js", "/vendor/uplot.js", "/vendor/uplot.css"]) expect((await get(p)).status, p).toBe(200);
    expect((await get("/vendor/dagre.js")).body).toContain("export{");
    for (const p of ["/../package.json", "/..%2fpackage.json", "/vendor/..%2f..%2fpackage.json", "/pages/..%2f..%2fstudio-routes.ts", "/nothing.js"]) {
      expect((await get(p)).status, p).toBe(404);
    }
    const scripts = [index.body, ...(await Promise.all(["/app.js", "/api.js", "/dag.js", "/chart.js", "/pages/run.js"].map(async (p) => (await get(p)).body)))];
    const urls = scripts.flatMap((b) => b.match(/https?:\/\/[^\s"'`)]+/g) ?? []);
    expect(urls.filter((u) => u !== "http://www.w3.org/2000/svg")).toEqual([]);
    await expect(h.api("/whoami", { role: "operator" })).resolves.toEqual({ status: 200, json: { name: "operator-studio", role: "operator" } });
  });

  it("is usable on a narrow window in dark mode: nothing overflows sideways", async () => {
    const p = await page("operator", `#/runs/${runs.mixed}`, { width: 390, height: 800, dark: true });
    await p.locator("#run-dag g.node").first().waitFor();
    await p.locator(`#run-dag g.node[data-step="sum"]`).click();
    await p.locator('#step-panel [data-why="sum"]').waitFor();
    const { scroll, client, bg } = await p.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth, bg: getComputedStyle(document.body).backgroundColor }));
    expect(scroll).toBeLessThanOrEqual(client);
    expect(bg).toBe("rgb(18, 22, 28)");
    await screenshot(p, "run-narrow-dark");
    await p.goto(`${h.base}/#/pipelines/breast-cancer`);
    const card = p.locator('section.pipeline[data-pipeline="breast-cancer"]');
    await card.waitFor();
    // Its DAG, its params and its nightly retraining schedule with the next fire times.
    await expect(card.locator("svg.dag g.node").count()).resolves.toBe(10);
    await expect(card.locator("table.params tbody tr").count()).resolves.toBe(8);
    const fires = await card.locator("table.schedules tbody tr td:nth-child(4) div").allTextContents();
    expect(fires).toHaveLength(3);
    for (const f of fires) expect(f).toMatch(/ 02:00:00 /);
    const wide = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(wide).toBeLessThanOrEqual(0);
    await screenshot(p, "pipeline-narrow-dark");
    for (const [hash, ready, shot] of [
      ["#/runs", "#runs-table", "runs-narrow-dark"],
      [`#/compare?runs=${runs.bcDefault},${runs.bcSlower}`, "#metrics-diff", "compare-narrow-dark"],
      ["#/models", "section.model", "models-narrow-dark"],
      ["#/endpoints", "section.endpoint", "endpoints-narrow-dark"],
    ] as const) {
      await p.goto(`${h.base}/${hash}`);
      await p.locator(ready).first().waitFor();
      await expect(p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), hash).resolves.toBeLessThanOrEqual(0);
      await screenshot(p, shot);
    }
  });
});
