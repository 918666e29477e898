/* global window */
/**
 * Pipelines: each with its DAG, params schema, schedules (next fire times) and last runs; an
 * operator can start a run with params from here.
 */
import { api, ApiError, hasRoute, qs, seg } from "../api.js";
import { renderDag } from "../dag.js";
import { badge, fmtDuration, fmtTime, fmtValue, h, link, notice } from "../dom.js";
import { can } from "../session.js";

/** Draws a pipeline description's steps (`{ id, kind, dependsOn }`) as a DAG. */
export function pipelineDag(container, steps, opts = {}) {
  if (!steps) return container.append(notice("No graph with the default params (a param without a default, or a definition error: `sluice ls` says which)."));
  const nodes = steps.map((s) => ({ id: s.id, kind: s.kind, status: "pending", sub: s.kind === "map" ? "map" : s.executor ?? "" }));
  const edges = steps.flatMap((s) => (s.dependsOn ?? []).map((d) => [d, s.id]));
  return renderDag(container, { nodes, edges, ...opts });
}

/** Rows of a params schema: name, type, default, limits, description. */
function schemaRows(schema) {
  const props = schema?.properties ?? {};
  const required = new Set(schema?.required ?? []);
  return Object.entries(props).map(([name, p]) => {
    const limits = ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "enum"].filter((k) => p[k] !== undefined).map((k) => `${k} ${fmtValue(p[k])}`);
    return { name, type: p.type ?? (p.anyOf ? "union" : "any"), def: p.default, required: required.has(name) && p.default === undefined, limits: limits.join(", "), description: p.description ?? "" };
  });
}

/** The value of a form field for a schema property. */
function readField(input, prop) {
  if (prop.type === "boolean") return input.checked;
  const raw = input.value;
  if (prop.type === "integer" || prop.type === "number") return raw.trim() === "" ? undefined : Number(raw);
  if (prop.type === "string") return raw;
  return raw.trim() === "" ? undefined : JSON.parse(raw);
}

/** A form of the pipeline's params (defaults filled in) that starts a run. */
function triggerForm(p) {
  const props = p.params?.properties ?? {};
  const fields = new Map();
  const inputs = Object.entries(props).map(([name, prop]) => {
    const def = prop.default;
    let input;
    if (prop.type === "boolean") input = h("input", { type: "checkbox", name, checked: def === true });
    else if (prop.type === "integer" || prop.type === "number") input = h("input", { type: "number", name, step: prop.type === "integer" ? "1" : "any", value: def ?? "" });
    else if (prop.type === "string") input = h("input", { type: "text", name, value: def ?? "" });
    else input = h("textarea", { name, rows: 2, value: def === undefined ? "" : JSON.stringify(def) });
    fields.set(name, { input, prop });
    return h("label", {}, name, input);
  });
  const status = h("span", { class: "muted", role: "status" });
  const form = h("form", { class: "trigger", "data-pipeline": p.name }, h("div", { class: "form-row" }, inputs, h("button", { class: "primary", type: "submit", "data-action": "trigger" }, `Run ${p.name}`)), status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const params = {};
    try {
      for (const [name, { input, prop }] of fields) {
        const v = readField(input, prop);
        if (v !== undefined && JSON.stringify(v) !== JSON.stringify(prop.default)) params[name] = v;
      }
      status.textContent = "Starting…";
      const started = await api(`/pipelines/${seg(p.name)}/runs`, { method: "POST", body: { params } });
      window.location.hash = `#/runs/${encodeURIComponent(started.runId)}`;
    } catch (err) {
      status.textContent = err instanceof ApiError ? `${err.code ?? err.status}: ${err.message}` : String(err.message ?? err);
    }
  });
  return form;
}

function schedulesTable(list) {
  if (list.length === 0) return h("p", { class: "muted" }, "No schedules.");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "schedules" },
      h("thead", {}, h("tr", {}, h("th", {}, "schedule"), h("th", {}, "cron"), h("th", {}, "zone"), h("th", {}, "next fires"), h("th", {}, "last fire"))),
      h(
        "tbody",
        {},
        list.map((s) =>
          h(
            "tr",
            {},
            h("td", {}, s.id),
            h("td", {}, h("code", {}, s.cron)),
            h("td", {}, s.timezone),
            h("td", {}, (s.next ?? []).slice(0, 3).map((n) => h("div", { class: "mono" }, n.local ?? fmtTime(n.at)))),
            h("td", {}, s.lastFire ? [fmtTime(s.lastFire.fireTime), " ", badge(s.lastFire.status ?? "—"), s.lastFire.runId ? [" ", link(`#/runs/${encodeURIComponent(s.lastFire.runId)}`, "run")] : null] : "—"),
          ),
        ),
      ),
    ),
  );
}

/** A small table of runs (shared with the run list). */
export function runRows(runs) {
  return runs.map((r) =>
    h(
      "tr",
      { "data-run": r.id },
      h("td", {}, link(`#/runs/${encodeURIComponent(r.id)}`, h("code", {}, r.id))),
      h("td", {}, r.pipeline),
      h("td", {}, badge(r.status)),
      h("td", {}, r.trigger),
      h("td", {}, r.actor),
      h("td", {}, fmtTime(r.startedAt)),
      h("td", { class: "num" }, fmtDuration(r.finishedAt ? r.finishedAt - r.startedAt : null)),
    ),
  );
}

/** Renders the pipelines page. */
export async function render(view, { params: route, signal }) {
  const one = route?.name;
  const [pipelines, schedules] = await Promise.all([one ? api(`/pipelines/${seg(one)}`, { signal }).then((p) => [p]) : api("/pipelines", { signal }), hasRoute("get", "/api/v1/schedules").then((ok) => (ok ? api("/schedules", { signal }).catch(() => null) : null))]);
  view.append(h("h1", {}, one ? [h("a", { href: "#/pipelines" }, "Pipelines"), " › ", one] : "Pipelines"));
  if (pipelines.length === 0) view.append(notice("No pipelines in this workspace (pipelines/*.ts)."));
  if (pipelines.length > 1) view.append(h("nav", { class: "jump row-actions", "aria-label": "pipelines" }, pipelines.map((p) => h("a", { href: `#/pipelines/${encodeURIComponent(p.name)}` }, p.name))));
  const list = h("div", { class: "pipelines" });
  view.append(list);
  const lastRuns = await Promise.all(pipelines.map((p) => api(`/runs${qs({ pipeline: p.name, limit: 5 })}`, { signal }).catch(() => [])));
  pipelines.forEach((p, i) => {
    const dagBox = h("div", { class: "dag-box" });
    const rows = schemaRows(p.params);
    const mine = (schedules ?? []).filter((s) => s.pipeline === p.name);
    const card = h(
      "section",
      { class: "card pipeline", "data-pipeline": p.name, id: `pipeline-${p.name}` },
      h("h2", {}, one ? p.name : h("a", { href: `#/pipelines/${encodeURIComponent(p.name)}` }, p.name)),
      p.description ? h("p", { class: "muted" }, p.description) : null,
      dagBox,
      h("h3", {}, "Params"),
      rows.length === 0
        ? h("p", { class: "muted" }, "No params.")
        : h("div", { class: "table-wrap" }, h("table", { class: "params" }, h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "type"), h("th", {}, "default"), h("th", {}, "limits"), h("th", {}, "description"))), h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, h("code", {}, r.name)), h("td", {}, r.type), h("td", {}, r.required ? "required" : fmtValue(r.def)), h("td", {}, r.limits), h("td", {}, r.description)))))),
      h("h3", {}, "Schedules"),
      schedules === null ? h("p", { class: "muted" }, "Schedules are not served by this server (GET /api/v1/schedules).") : schedulesTable(mine),
      h("h3", {}, "Last runs"),
      lastRuns[i].length === 0 ? h("p", { class: "muted" }, "No runs yet.") : h("div", { class: "table-wrap" }, h("table", { class: "runs" }, h("tbody", {}, runRows(lastRuns[i])))),
      can("operator") ? [h("h3", {}, "Start a run"), triggerForm(p)] : null,
    );
    list.append(card);
    pipelineDag(dagBox, p.steps, { compact: !one });
  });
}
