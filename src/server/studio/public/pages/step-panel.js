/**
 * The step panel of a run page: what a step did (status, executor/worker, attempts, duration,
 * digests), why it ran or was cached (the run's recorded reason, and the explain diff when the
 * server offers it), its metric curves and its logs. A map step shows its instance counts and a
 * paged, filterable list of instances instead of 10,000 rows at once.
 */
import { api, hasRoute, qs, seg } from "../api.js";
import { metricCharts } from "../chart.js";
import { countsLabel } from "../dag.js";
import { badge, fmtDuration, fmtTime, fmtValue, h, mapInstance, notice, replace, shortDigest } from "../dom.js";

const PAGE = 50;

function digests(rec) {
  const entries = Object.entries(rec ?? {});
  if (entries.length === 0) return "—";
  return entries.map(([k, d]) => h("div", {}, h("code", {}, k), " ", h("span", { class: "mono", title: d }, shortDigest(d))));
}

/** One explain change (a cache-key component `{ component, … old, new }`, `{ path, old, new }` or a sentence) as text. */
function changeText(c) {
  if (typeof c === "string") return c;
  if (c.text || c.message) return c.text ?? c.message;
  const what = { code: () => `code ${c.file}`, package: () => `package ${c.name}`, param: () => `param ${c.path}`, input: () => `input ${c.port}`, env: () => `env ${c.name}` }[c.component];
  const name = what ? what() : (c.path ?? c.component ?? "change");
  const v = (x) => (typeof x === "string" && x.startsWith("sha256:") ? shortDigest(x) : fmtValue(x ?? null));
  return `${name}: ${v(c.old)} → ${v(c.new)}`;
}

const previous = new Map();
/** The run of the same pipeline started just before `run`, with its steps (or null). */
function previousRun(run, signal) {
  if (!previous.has(run.id)) {
    previous.set(
      run.id,
      (async () => {
        const list = await api(`/runs${qs({ pipeline: run.pipeline, limit: 50 })}`, { signal });
        const prev = list.find((r) => r.startedAt < run.startedAt || (r.startedAt === run.startedAt && r.id < run.id));
        return prev ? await api(`/runs/${seg(prev.id)}`, { signal }) : null;
      })().catch(() => null),
    );
  }
  return previous.get(run.id);
}

/**
 * What differs from the pipeline's previous run for this step: its input digests, its cache
 * key, and the run params. This is what the API's records tell; a server-side explain (the
 * key's components: code files, packages, params) is shown too when the server offers it.
 */
async function diffWithPrevious(run, rec, signal) {
  const prev = await previousRun(run, signal);
  if (!prev) return h("p", { class: "muted" }, "No earlier run of this pipeline to compare with.");
  const before = prev.steps.find((s) => s.stepId === rec.stepId);
  const items = [];
  if (!before) items.push(`the step was not in run ${prev.run.id}`);
  else {
    for (const port of [...new Set([...Object.keys(before.inputs ?? {}), ...Object.keys(rec.inputs ?? {})])].sort()) {
      const a = before.inputs?.[port] ?? null;
      const b = rec.inputs?.[port] ?? null;
      if (a !== b) items.push(changeText({ component: "input", port, old: a, new: b }));
    }
    if (before.cacheKey && rec.cacheKey && before.cacheKey !== rec.cacheKey && items.length === 0) items.push("same inputs, another cache key: the step's params or code changed");
    if (before.cacheKey && before.cacheKey === rec.cacheKey) items.push(`same cache key as in run ${prev.run.id} (${before.status})`);
  }
  const pa = prev.run.params ?? {};
  const pb = run.params ?? {};
  for (const k of [...new Set([...Object.keys(pa), ...Object.keys(pb)])].sort()) {
    if (JSON.stringify(pa[k]) !== JSON.stringify(pb[k])) items.push(changeText({ component: "param", path: `run ${k}`, old: pa[k], new: pb[k] }));
  }
  return h(
    "div",
    { class: "explain", "data-explain": rec.stepId },
    h("div", { class: "muted" }, "Since run ", h("a", { href: `#/runs/${encodeURIComponent(prev.run.id)}` }, h("code", {}, prev.run.id)), ":"),
    items.length ? h("ul", { class: "changes" }, items.map((t) => h("li", {}, t))) : h("p", { class: "muted" }, "nothing differs in the recorded inputs and params."),
  );
}

/** The server's explain of a step run: for a hit, the run that made the outputs; for a miss, the key components that changed. */
function keyExplain(rec, ex) {
  const runLink = (id) => h("a", { href: `#/runs/${encodeURIComponent(id)}` }, h("code", {}, id));
  const box = h("div", { class: "explain key-explain", "data-key-explain": rec.stepId, "data-hit": ex.hit ? "true" : "false" });
  if (ex.hit) box.append(ex.fromRun ? h("div", {}, "Outputs made by run ", runLink(ex.fromRun), ".") : h("div", { class: "muted" }, ex.summary?.[0] ?? "cache hit"));
  else if (ex.comparedWith) box.append(h("div", { class: "muted" }, "Cache key components changed since run ", runLink(ex.comparedWith.runId), ":"), h("ul", { class: "changes" }, (ex.summary ?? ex.changes.map(changeText)).map((t) => h("li", {}, t))));
  else box.append(h("div", { class: "muted" }, (ex.summary ?? []).join("; ")));
  return box;
}

/** The "why" box: the recorded reason, plus the explain diff when the server has that route. */
async function whyBox(run, rec, signal) {
  const runId = run.id;
  const box = h("div", { class: "why", "data-why": rec.stepId }, h("strong", {}, rec.status === "cached" ? "Why cached: " : rec.status === "skipped" ? "Why skipped: " : "Why it ran: "), rec.reason ?? "no reason recorded");
  if (rec.cacheKey) box.append(h("div", { class: "muted mono" }, `cache key ${shortDigest(rec.cacheKey)}`));
  if (run.pipeline && ["succeeded", "failed", "cached"].includes(rec.status)) box.append(await diffWithPrevious(run, rec, signal));
  if (await hasRoute("get", "/api/v1/runs/{id}/steps/{step}/explain")) {
    try {
      const ex = await api(`/runs/${seg(runId)}/steps/${seg(rec.stepId)}/explain`, { signal });
      if (ex) box.append(keyExplain(rec, ex));
    } catch {
      /* the recorded reason stands */
    }
  }
  return box;
}

/** Log lines into a `<pre>`; returns the element (more lines are appended with `appendLog`). */
export function logBox(lines) {
  const pre = h("pre", { class: "logs", "data-logs": "" });
  for (const l of lines) appendLog(pre, l);
  if (lines.length === 0) pre.append(h("span", { class: "muted empty" }, "No log lines."));
  return pre;
}

/** Appends one log line (`{ ts, level, msg, data }`). */
export function appendLog(pre, l) {
  pre.querySelector(".empty")?.remove();
  const data = l.data && Object.keys(l.data).length ? ` ${JSON.stringify(l.data)}` : "";
  pre.append(h("div", { class: `lvl-${l.level}` }, `${fmtTime(l.ts).slice(11)} ${l.level.padEnd(5)} ${l.msg}${data}`));
}

/** Details of one step record (a plain step or one map instance). */
export async function stepDetails(panel, { run, rec, signal, onBack }) {
  const runId = run.id;
  const charts = h("div", { class: "charts" });
  const logs = h("div", {}, notice("Loading logs…"));
  replace(
    panel,
    onBack ? h("button", { type: "button", class: "back", onclick: onBack }, "← back to the map") : null,
    h("h2", {}, h("code", {}, rec.stepId), " ", badge(rec.status)),
    h(
      "dl",
      { class: "kv" },
      h("dt", {}, "step"), h("dd", {}, rec.stepName),
      h("dt", {}, "executor"), h("dd", { "data-field": "executor" }, rec.executor ?? "—"),
      h("dt", {}, "worker"), h("dd", { "data-field": "worker" }, rec.worker ?? "—"),
      h("dt", {}, "attempts"), h("dd", { "data-field": "attempts" }, String(rec.attempts ?? 0)),
      h("dt", {}, "started"), h("dd", {}, fmtTime(rec.startedAt)),
      h("dt", {}, "duration"), h("dd", { "data-field": "duration" }, fmtDuration(rec.durationMs)),
      h("dt", {}, "inputs"), h("dd", {}, digests(rec.inputs)),
      h("dt", {}, "outputs"), h("dd", {}, digests(rec.outputs)),
    ),
    await whyBox(run, rec, signal),
    rec.error ? h("p", { class: "notice error" }, h("strong", {}, rec.error.code ?? "error"), ": ", rec.error.message ?? "") : null,
    h("h3", {}, "Metrics"),
    charts,
    h("h3", {}, "Logs"),
    logs,
  );
  const [points, lines] = await Promise.all([api(`/runs/${seg(runId)}/steps/${seg(rec.stepId)}/metrics`, { signal }).catch(() => []), api(`/runs/${seg(runId)}/steps/${seg(rec.stepId)}/logs`, { signal }).catch(() => [])]);
  if (signal.aborted) return null;
  const fromRun = points.find((p) => p.fromRun)?.fromRun;
  if (fromRun) charts.append(h("p", { class: "muted", "data-metrics-from": fromRun }, "Cached: these are the metrics of run ", h("a", { href: `#/runs/${encodeURIComponent(fromRun)}` }, h("code", {}, fromRun)), ", which computed its outputs."));
  if (metricCharts(charts, points, () => rec.stepId) === 0) charts.append(h("p", { class: "muted" }, "No metrics."));
  const pre = logBox(lines);
  replace(logs, pre);
  return pre;
}

/** The panel of a map step: counts, then its instances a page at a time, filterable by status and key. */
export function mapDetails(panel, { rec, instances, total, onPick }) {
  const counts = {};
  for (const r of instances) counts[r.status] = (counts[r.status] ?? 0) + 1;
  const filter = { status: "", key: "", page: 0 };
  const tableBox = h("div", { class: "table-wrap" });
  const pager = h("div", { class: "pager" });
  const draw = () => {
    const key = filter.key.trim();
    const rows = instances.filter((r) => (!filter.status || r.status === filter.status) && (!key || mapInstance(r.stepId)?.key.includes(key)));
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    filter.page = Math.min(filter.page, pages - 1);
    const slice = rows.slice(filter.page * PAGE, (filter.page + 1) * PAGE);
    replace(
      tableBox,
      h(
        "table",
        { class: "instances" },
        h("thead", {}, h("tr", {}, h("th", {}, "key"), h("th", {}, "status"), h("th", { class: "num" }, "duration"), h("th", {}, "reason"))),
        h("tbody", {}, slice.map((r) => h("tr", { "data-instance": r.stepId }, h("td", {}, h("button", { type: "button", class: "linklike", onclick: () => onPick(r) }, mapInstance(r.stepId)?.key ?? r.stepId)), h("td", {}, badge(r.status)), h("td", { class: "num" }, fmtDuration(r.durationMs)), h("td", { class: "muted" }, r.reason ?? "")))),
      ),
    );
    replace(
      pager,
      h("button", { type: "button", disabled: filter.page === 0, onclick: () => ((filter.page -= 1), draw()) }, "‹ prev"),
      h("span", { class: "muted" }, `page ${filter.page + 1} of ${pages} · ${rows.length} instance${rows.length === 1 ? "" : "s"}`),
      h("button", { type: "button", disabled: filter.page >= pages - 1, onclick: () => ((filter.page += 1), draw()) }, "next ›"),
    );
  };
  const statusSel = h("select", { name: "instance-status" }, h("option", { value: "" }, "any"), Object.keys(counts).map((s) => h("option", { value: s }, `${s} (${counts[s]})`)));
  statusSel.addEventListener("change", () => ((filter.status = statusSel.value), (filter.page = 0), draw()));
  const keyInput = h("input", { type: "search", name: "instance-key", placeholder: "key" });
  keyInput.addEventListener("input", () => ((filter.key = keyInput.value), (filter.page = 0), draw()));
  const details = h("details", { class: "instances-box" }, h("summary", {}, `Instances (${instances.length})`), h("div", { class: "filters" }, h("label", {}, "status", statusSel), h("label", {}, "key", keyInput)), tableBox, pager);
  draw(); // one page (50 rows) however many instances
  replace(
    panel,
    h("h2", {}, h("code", {}, rec?.stepId ?? "map"), " ", badge(rec?.status ?? "pending"), " ", h("span", { class: "muted" }, "map")),
    h("dl", { class: "kv" }, h("dt", {}, "instances"), h("dd", { "data-field": "instances" }, String(total ?? instances.length)), h("dt", {}, "counts"), h("dd", { "data-field": "counts" }, countsLabel(counts) || "—"), h("dt", {}, "duration"), h("dd", {}, fmtDuration(rec?.durationMs ?? null))),
    h("div", { class: "why", "data-why": rec?.stepId ?? "" }, h("strong", {}, "Instances: "), rec?.reason ?? "running"),
    details,
  );
  return details;
}
