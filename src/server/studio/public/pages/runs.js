/* global window */
/**
 * The run list, filterable by pipeline, status, trigger and actor (the filters live in the URL,
 * so a filtered list can be linked); runs ticked here are compared side by side.
 */
import { api, qs } from "../api.js";
import { h, notice } from "../dom.js";
import { runRows } from "./pipelines.js";

const STATUSES = ["running", "succeeded", "failed", "cancelled", "interrupted"];
const TRIGGERS = ["cli", "cron", "http", "api"];

function select(name, label, options, value) {
  return h("label", {}, label, h("select", { name }, h("option", { value: "" }, "any"), options.map((o) => h("option", { value: o, selected: o === value ? "" : null }, o))));
}

/** Renders the run list. */
export async function render(view, { query, signal }) {
  const filters = { pipeline: query.pipeline ?? "", status: query.status ?? "", trigger: query.trigger ?? "", actor: query.actor ?? "" };
  const limit = Number(query.limit ?? 100);
  const [pipelines, runs] = await Promise.all([
    api("/pipelines", { signal }).catch(() => []),
    // The API filters pipeline, status and trigger; the actor is matched here.
    api(`/runs${qs({ pipeline: filters.pipeline, status: filters.status, trigger: filters.trigger, limit: filters.actor ? 1000 : limit })}`, { signal }),
  ]);
  const shown = (filters.actor ? runs.filter((r) => r.actor === filters.actor) : runs).slice(0, limit);
  const actors = [...new Set(runs.map((r) => r.actor))].sort();
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
  compareBtn.addEventListener("click", () => {
    window.location.hash = `#/compare${qs({ runs: [...picked].join(",") })}`;
  });
  const rows = runRows(shown);
  for (const tr of rows) {
    const id = tr.dataset.run;
    const box = h("input", { type: "checkbox", "aria-label": `select ${id}`, "data-select": id });
    box.addEventListener("change", () => {
      if (box.checked) picked.add(id);
      else picked.delete(id);
      compareBtn.disabled = picked.size < 2;
      compareBtn.textContent = picked.size >= 2 ? `Compare ${picked.size} runs` : "Compare selected";
    });
    tr.prepend(h("td", {}, box));
  }

  view.append(
    h("h1", {}, "Runs"),
    form,
    h("div", { class: "row-actions" }, compareBtn, h("span", { class: "muted" }, `${shown.length} run${shown.length === 1 ? "" : "s"}`)),
    shown.length === 0
      ? notice("No runs match these filters.")
      : h(
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
}
