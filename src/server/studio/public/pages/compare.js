/* global window */
/**
 * Two or more runs side by side: params (differences marked), final metrics (the last sample of
 * each metric, and the numbers of `metrics` outputs such as an evaluation's), and metric curves
 * overlaid, one line per run.
 */
import { api, qs, seg } from "../api.js";
import { lineChart } from "../chart.js";
import { badge, fmtTime, fmtValue, h, link, notice } from "../dom.js";

/** Numbers of a `metrics` output: `{ metrics: { accuracy } }` or `{ accuracy }`. */
function numbersOf(json) {
  const src = json && typeof json === "object" && json.metrics && typeof json.metrics === "object" ? json.metrics : json;
  if (!src || typeof src !== "object") return [];
  return Object.entries(src).filter(([, v]) => typeof v === "number");
}

/**
 * One run's record, metric samples and final numbers (`step › name` → value). A cached step
 * sampled nothing in this run: the API answers its producing run's samples (`fromRun`), kept
 * under this run's step id and remembered in `borrowed` (`step › name` → producing run).
 */
async function loadRun(id, signal) {
  const { run, steps } = await api(`/runs/${seg(id)}`, { signal });
  const own = await api(`/runs/${seg(id)}/metrics`, { signal }).catch(() => []);
  const sampled = new Set(own.map((p) => p.stepId));
  const cached = steps.filter((s) => s.status === "cached" && !sampled.has(s.stepId) && !/\[/.test(s.stepId)).slice(0, 20);
  const lent = await Promise.all(cached.map((s) => api(`/runs/${seg(id)}/steps/${seg(s.stepId)}/metrics`, { signal }).catch(() => [])));
  const borrowed = new Map();
  const points = [...own];
  cached.forEach((s, i) => {
    for (const p of lent[i].filter((q) => q.fromRun)) {
      points.push({ ...p, stepId: s.stepId });
      borrowed.set(`${s.stepId} › ${p.name}`, p.fromRun);
    }
  });
  const finals = new Map();
  for (const p of points) finals.set(`${p.stepId} › ${p.name}`, p.value);
  const withMetrics = steps.filter((s) => s.outputs?.metrics && !/\[/.test(s.stepId)).slice(0, 20);
  const outputs = await Promise.all(withMetrics.map((s) => api(`/runs/${seg(id)}/steps/${seg(s.stepId)}/outputs/metrics`, { signal }).catch(() => null)));
  withMetrics.forEach((s, i) => {
    for (const [k, v] of numbersOf(outputs[i])) {
      finals.set(`${s.stepId} › ${k}`, v);
      borrowed.delete(`${s.stepId} › ${k}`); // the run's own output
    }
  });
  return { run, points, finals, borrowed };
}

async function picker(view, signal, chosen) {
  const runs = await api(`/runs${qs({ limit: 50 })}`, { signal });
  const picked = new Set(chosen);
  const go = h("button", { type: "button", class: "primary", id: "compare-go", disabled: picked.size < 2 }, "Compare");
  go.addEventListener("click", () => (window.location.hash = `#/compare${qs({ runs: [...picked].join(",") })}`));
  view.append(
    h("h1", {}, "Compare runs"),
    h("p", { class: "muted" }, "Pick two or more runs."),
    h(
      "div",
      { class: "table-wrap card" },
      h(
        "table",
        {},
        h(
          "tbody",
          {},
          runs.map((r) => {
            const box = h("input", { type: "checkbox", "data-select": r.id, checked: picked.has(r.id) });
            box.addEventListener("change", () => {
              if (box.checked) picked.add(r.id);
              else picked.delete(r.id);
              go.disabled = picked.size < 2;
            });
            return h("tr", {}, h("td", {}, box), h("td", {}, h("code", {}, r.id)), h("td", {}, r.pipeline), h("td", {}, badge(r.status)), h("td", {}, fmtTime(r.startedAt)));
          }),
        ),
      ),
    ),
    go,
  );
}

/** Renders the comparison. */
export async function render(view, { query, signal }) {
  const ids = (query.runs ?? "").split(",").filter(Boolean);
  if (ids.length < 2) return picker(view, signal, ids);
  const runs = await Promise.all(ids.map((id) => loadRun(id, signal)));
  const head = h("tr", {}, h("th", {}, ""), runs.map((r) => h("th", {}, link(`#/runs/${encodeURIComponent(r.run.id)}`, h("code", {}, r.run.id)))));

  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.run.params ?? {})))].sort();
  const paramRows = paramKeys.map((k) => {
    const vals = runs.map((r) => (r.run.params ?? {})[k]);
    const differs = new Set(vals.map((v) => JSON.stringify(v))).size > 1;
    return h("tr", { class: differs ? "diff" : null, "data-param": k, "data-differs": differs ? "true" : "false" }, h("th", {}, h("code", {}, k)), vals.map((v) => h("td", {}, fmtValue(v))));
  });
  const differing = paramRows.filter((r) => r.dataset.differs === "true").length;

  const metricKeys = [...new Set(runs.flatMap((r) => [...r.finals.keys()]))].sort();
  const metricRows = metricKeys.map((k) => {
    const vals = runs.map((r) => r.finals.get(k));
    const differs = new Set(vals.map((v) => JSON.stringify(v))).size > 1;
    const cell = (r, v) => {
      const from = r.borrowed.get(k);
      if (!from || v === undefined) return h("td", { class: "num" }, fmtValue(v));
      return h("td", { class: "num", "data-from-run": from, title: `cached here: the value of run ${from}, which computed the step` }, fmtValue(v), h("span", { class: "muted from-run" }, ` ↩ ${from}`));
    };
    return h("tr", { "data-metric": k, class: differs ? "diff" : null }, h("th", {}, k), runs.map((r, i) => cell(r, vals[i])));
  });

  const charts = h("div", { class: "charts" });
  view.append(
    h("h1", {}, `Compare ${runs.length} runs`),
    h("div", { class: "table-wrap card" }, h("table", { class: "summary" }, h("thead", {}, head), h("tbody", {}, h("tr", {}, h("th", {}, "pipeline"), runs.map((r) => h("td", {}, r.run.pipeline))), h("tr", {}, h("th", {}, "status"), runs.map((r) => h("td", {}, badge(r.run.status)))), h("tr", {}, h("th", {}, "started"), runs.map((r) => h("td", {}, fmtTime(r.run.startedAt))))))),
    h("h2", {}, "Params ", h("span", { class: "muted" }, `(${differing} differ${differing === 1 ? "s" : ""})`)),
    h("div", { class: "table-wrap card" }, h("table", { class: "params-diff", id: "params-diff" }, h("thead", {}, head.cloneNode(true)), h("tbody", {}, paramRows))),
    h("h2", {}, "Final metrics"),
    metricRows.length ? h("div", { class: "table-wrap card" }, h("table", { class: "metrics-diff", id: "metrics-diff" }, h("thead", {}, head.cloneNode(true)), h("tbody", {}, metricRows)), h("p", { class: "muted" }, "— : no sample in that run. ↩ run: the step was cached in this run; the value is that of the run that computed it.")) : notice("These runs reported no metrics."),
    h("h2", {}, "Curves"),
    charts,
  );
  // One chart per (step, metric) sampled more than once, one line per run.
  const curves = new Map();
  runs.forEach((r) => {
    const byKey = new Map();
    for (const p of r.points) (byKey.get(`${p.stepId} › ${p.name}`) ?? byKey.set(`${p.stepId} › ${p.name}`, []).get(`${p.stepId} › ${p.name}`)).push(p);
    const label = (k) => (r.borrowed.has(k) ? `${r.run.id} (↩ ${r.borrowed.get(k)})` : r.run.id);
    for (const [k, pts] of byKey) if (pts.length > 1) (curves.get(k) ?? curves.set(k, new Map()).get(k)).set(label(k), pts);
  });
  for (const [k, series] of [...curves].slice(0, 24)) lineChart(charts, k, series);
  if (curves.size === 0) charts.append(h("p", { class: "muted" }, "No curves (no metric sampled more than once)."));
}
