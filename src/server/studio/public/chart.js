/* global document, getComputedStyle, ResizeObserver */
/**
 * Metric curves with uPlot: one chart per metric name, one line per series (a step, or a run
 * when comparing). x is the sample's training step (or its index when the step gave none).
 */
import uPlot from "./vendor/uplot.js";
import { h } from "./dom.js";

const PALETTE = ["#2f6fdf", "#d9480f", "#2b8a3e", "#9c36b5", "#e8590c", "#0b7285", "#c2255c", "#5c940d"];

/** Loads uPlot's stylesheet once. */
function ensureCss() {
  if (document.querySelector("link[data-uplot]")) return;
  document.head.append(h("link", { rel: "stylesheet", href: "/vendor/uplot.css", "data-uplot": "" }));
}

/** Groups metric points (`{ name, value, step, stepId }`) by name, then by `seriesOf(point)`. */
export function groupMetrics(points, seriesOf) {
  const byName = new Map();
  for (const p of points) {
    const series = seriesOf(p);
    const m = byName.get(p.name) ?? byName.set(p.name, new Map()).get(p.name);
    const arr = m.get(series) ?? m.set(series, []).get(series);
    arr.push(p);
  }
  return byName;
}

/**
 * Draws one chart titled `name` with `series` (Map label → points) into `container`; a series
 * with one point shows as a dot. Returns the chart element.
 */
export function lineChart(container, name, series) {
  ensureCss();
  const labels = [...series.keys()];
  const xs = new Set();
  const rows = labels.map((l) => series.get(l).map((p, i) => [p.step ?? i, p.value]));
  for (const r of rows) for (const [x] of r) xs.add(x);
  const x = [...xs].sort((a, b) => a - b);
  const index = new Map(x.map((v, i) => [v, i]));
  const ys = rows.map((r) => {
    const y = new Array(x.length).fill(null);
    for (const [xv, yv] of r) y[index.get(xv)] = yv;
    return y;
  });
  const box = h("figure", { class: "chart", "data-metric": name }, h("figcaption", {}, name));
  container.append(box);
  const fg = getComputedStyle(document.body).getPropertyValue("--fg").trim() || "#222";
  const grid = getComputedStyle(document.body).getPropertyValue("--line").trim() || "#ddd";
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
  const width = () => Math.max(240, Math.min(640, box.clientWidth || 480));
  const plot = new uPlot(
    {
      width: width(),
      height: 200,
      legend: { show: labels.length > 1 },
      scales: { x: { time: false } },
      axes: [{ ...axis }, { ...axis, size: 56 }],
      series: [{ label: "step" }, ...labels.map((l, i) => ({ label: l, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true, points: { show: x.length < 3 } }))],
    },
    [x, ...ys],
    box,
  );
  if (typeof ResizeObserver === "function") new ResizeObserver(() => plot.setSize({ width: width(), height: 200 })).observe(box);
  return box;
}

/** Charts every metric of `points` into `container`, series by `seriesOf`; returns how many. */
export function metricCharts(container, points, seriesOf) {
  const groups = groupMetrics(points, seriesOf);
  for (const [name, series] of groups) lineChart(container, name, series);
  return groups.size;
}
