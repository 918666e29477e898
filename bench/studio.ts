// Section u: the Studio's run page in Debian's Chromium (playwright-core) against a real
// `sluice serve` app on loopback. A many-models run with N stores (one map with N elements) is
// run once; then the run page is opened again and again: time from navigation until the DAG with
// the map node is on screen, and until the map's panel (counts) shows after a click. The floor is
// the same page for the 6-step demo run, measured in the same process run.
import type { Page } from "playwright-core";
import { addManyModels, signIn, startStudio } from "../test/integration/studio-harness.ts";
import type { Row } from "./lib/report.ts";
import { fmt, median, msSince, nowNs } from "./lib/stats.ts";

/** Options of `studioBench`. */
export interface StudioBenchOptions {
  readonly elements: number;
  readonly reps: number;
}

/** Milliseconds from `start()` until `selector` is in the page. */
async function timeUntil(page: Page, start: () => Promise<unknown>, selector: string): Promise<number> {
  const t0 = nowNs();
  await start();
  await page.locator(selector).first().waitFor({ state: "attached", timeout: 60_000 });
  return msSince(t0);
}

/** Run page timings for one run: full page load, in-app navigation, click on a node until its panel shows. */
async function measure(page: Page, base: string, runId: string, node: string, panelSelector: string, reps: number): Promise<{ load: number[]; nav: number[]; click: number[] }> {
  const out = { load: [] as number[], nav: [] as number[], click: [] as number[] };
  const dagNode = `#run-dag g.node[data-step="${node}"][data-status]`;
  for (let rep = -1; rep < reps; rep++) {
    await page.goto(`${base}/#/models`);
    await page.locator('.page[data-page="models"]').waitFor({ state: "attached" });
    const load = await timeUntil(page, () => page.goto(`${base}/#/runs/${encodeURIComponent(runId)}`), dagNode);
    await page.evaluate(() => (location.hash = "#/models"));
    await page.locator('.page[data-page="models"]').waitFor({ state: "attached" });
    const nav = await timeUntil(page, () => page.evaluate((id) => (location.hash = `#/runs/${encodeURIComponent(id)}`), runId), dagNode);
    const click = await timeUntil(page, () => page.locator(dagNode).click(), panelSelector);
    if (rep >= 0) {
      out.load.push(load);
      out.nav.push(nav);
      out.click.push(click);
    }
  }
  return out;
}

declare const location: { hash: string };

/** Runs the section; returns its rows. */
export async function studioBench(o: StudioBenchOptions, log: (s: string) => void): Promise<Row[]> {
  const h = await startStudio(addManyModels);
  try {
    const t0 = nowNs();
    const big = await h.runToEnd("many-models", { stores: o.elements, weeks: 60 });
    log(`  many-models run with ${o.elements} stores: ${fmt(msSince(t0) / 1000)} s`);
    const small = await h.runToEnd("demo");
    const steps = (await h.api<{ steps: unknown[] }>(`/runs/${big}`)).json.steps.length;
    const ctx = await h.browser();
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    await signIn(page, h.base, h.tokens.viewer, "#/models");
    const many = await measure(page, h.base, big, "train", '#step-panel [data-field="counts"]', o.reps);
    const few = await measure(page, h.base, small, "total", '#step-panel [data-why="total"]', o.reps);
    log(`  ${steps} step records; full load ${many.load.map((x) => fmt(x, 0)).join(", ")} ms; in-app ${many.nav.map((x) => fmt(x, 0)).join(", ")} ms; map click ${many.click.map((x) => fmt(x, 0)).join(", ")} ms`);
    log(`  demo (6 steps): full load ${few.load.map((x) => fmt(x, 0)).join(", ")} ms; in-app ${few.nav.map((x) => fmt(x, 0)).join(", ")} ms; click ${few.click.map((x) => fmt(x, 0)).join(", ")} ms`);
    const section = "u. studio";
    const n = o.elements.toLocaleString("en-US");
    const row = (name: string, a: number[], b: number[], target: number | null): Row => ({
      section,
      name,
      measured: `${fmt(median(a), 0)} ms`,
      floor: `demo run ${fmt(median(b), 0)} ms`,
      ratio: `${fmt(median(a) / median(b))}×`,
      target: target === null ? "" : `< ${target.toLocaleString("en-US")} ms`,
      met: target === null ? null : median(a) < target,
    });
    return [
      row(`run page of a many-models run, ${n} elements: page load → DAG drawn (Chromium)`, many.load, few.load, 1000),
      row(`same, navigating inside the Studio (hash change → DAG drawn)`, many.nav, few.nav, 1000),
      row(`click the map node → its panel with counts`, many.click, few.click, null),
    ];
  } finally {
    await h.close();
  }
}
