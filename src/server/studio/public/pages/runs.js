/* global window, setTimeout, clearTimeout */
/**
 * The run list, filterable by pipeline, status, trigger and actor (the filters live in the URL,
 * so a filtered list can be linked); runs ticked here are compared side by side.
 */
import { api, qs } from "../api.js";
import { h, notice, replace } from "../dom.js";
import { runRows } from "./pipelines.js";

const STATUSES = ["running", "succeeded", "failed", "cancelled", "interrupted"];
const TRIGGERS = ["cli", "cron", "http", "api"];

function select(name, label, options, value) {
  return h("label", {}, label, h("select", { name }, h("option", { value: "" }, "any"), options.map((o) => h("option", { value: o, selected: o === value ? "" : null }, o))));
}

const REFRESH_MS = 5000;

/** The runs matching `filters` (all four filtered by the API); `all` also has other actors' runs, for the actor choices. */
async function fetchRuns(filters, limit, signal) {
  const [runs, others] = await Promise.all([
    api(`/runs${qs({ pipeline: filters.pipeline, status: filters.status, trigger: filters.trigger, actor: filters.actor, limit })}`, { signal }),
    filters.actor ? api(`/runs${qs({ pipeline: filters.pipeline, status: filters.status, trigger: filters.trigger, limit })}`, { signal }).catch(() => []) : null,
  ]);
  return { all: others ?? runs, shown: runs };
}

/** Renders the run list; it refreshes every 5 s while open (new runs, finished ones), keeping the ticks. */
export async function render(view, { query, signal }) {
  const filters = { pipeline: query.pipeline ?? "", status: query.status ?? "", trigger: query.trigger ?? "", actor: query.actor ?? "" };
  const limit = Number(query.limit ?? 100);
  const [pipelines, first] = await Promise.all([api("/pipelines", { signal }).catch(() => []), fetchRuns(filters, limit, signal)]);
  const actors = [...new Set(first.all.map((r) => r.actor))].sort();
  if (filters.actor && !actors.includes(filters.actor)) actors.push(filters.actor);

  const form = h(
    "form",
    { class: "filters", id: "run-filters" },
    select("pipeline", "pipeline", pipelines.map((p) => p.name), filters.pipeline),
    select("status", "status", STATUSES, filters.status),
    select("trigger", "trigger", TRIGGERS, filters.trigger),
    select("actor", "actor", actors, filters.actor),
  );
  form.addEventListener("change", () => {
    const data = Object.fromEntries(new window.FormData(form));
    window.location.hash = `#/runs${qs(data)}`;
  });

  const compareBtn = h("button", { type: "button", id: "compare-selected", disabled: true }, "Compare selected");
  const picked = new Set();
  const syncButton = () => {
    compareBtn.disabled = picked.size < 2;
    compareBtn.textContent = picked.size >= 2 ? `Compare ${picked.size} runs` : "Compare selected";
  };
  compareBtn.addEventListener("click", () => {
    window.location.hash = `#/compare${qs({ runs: [...picked].join(",") })}`;
  });
  const count = h("span", { class: "muted", id: "runs-count" });
  const listBox = h("div", {});
  let drawn = "";
  const draw = (shown) => {
    const key = JSON.stringify(shown);
    if (key === drawn) return; // unchanged: keep the rows (and focus, ticks) as they are
    drawn = key;
    count.textContent = `${shown.length} run${shown.length === 1 ? "" : "s"}`;
    if (shown.length === 0) return replace(listBox, notice("No runs match these filters."));
    const rows = runRows(shown);
    for (const tr of rows) {
      const id = tr.dataset.run;
      const box = h("input", { type: "checkbox", "aria-label": `select ${id}`, "data-select": id, checked: picked.has(id) });
      box.addEventListener("change", () => {
        if (box.checked) picked.add(id);
        else picked.delete(id);
        syncButton();
      });
      tr.prepend(h("td", {}, box));
    }
    replace(
      listBox,
      h(
        "div",
        { class: "table-wrap card" },
        h(
          "table",
          { class: "runs", id: "runs-table" },
          h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, "run"), h("th", {}, "pipeline"), h("th", {}, "status"), h("th", {}, "trigger"), h("th", {}, "actor"), h("th", {}, "started"), h("th", { class: "num" }, "duration"))),
          h("tbody", {}, rows),
        ),
      ),
    );
  };
  draw(first.shown);
  view.append(h("h1", {}, "Runs"), form, h("div", { class: "row-actions" }, compareBtn, count), listBox);

  let timer;
  const refresh = async () => {
    try {
      const next = await fetchRuns(filters, limit, signal);
      if (!signal.aborted) draw(next.shown);
    } catch {
      /* the next refresh tries again */
    }
    if (!signal.aborted) timer = setTimeout(refresh, REFRESH_MS);
  };
  timer = setTimeout(refresh, REFRESH_MS);
  signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
}
