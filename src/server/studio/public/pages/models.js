/**
 * Models: every registered version with its stage, metrics and lineage (the run that made it →
 * the digests it read → its code fingerprint).
 */
import { api } from "../api.js";
import { badge, fmtTime, fmtValue, h, link, notice, shortDigest } from "../dom.js";

function lineage(l) {
  if (!l) return "—";
  return h(
    "div",
    { class: "lineage" },
    h("div", {}, "run ", link(`#/runs/${encodeURIComponent(l.runId)}`, h("code", {}, l.runId)), ` › ${l.stepId}`),
    Object.entries(l.inputs ?? {}).map(([k, d]) => h("div", { class: "mono" }, `${k} ${shortDigest(d)}`)),
    h("div", { class: "mono muted" }, `code ${shortDigest(l.codeDigest)}`),
  );
}

/** Renders the models page. */
export async function render(view, { signal }) {
  const versions = await api("/models", { signal });
  view.append(h("h1", {}, "Models"));
  if (versions.length === 0) return view.append(notice("No models registered yet (a pipeline's register step adds them)."));
  const byName = new Map();
  for (const v of versions) (byName.get(v.name) ?? byName.set(v.name, []).get(v.name)).push(v);
  for (const [name, list] of byName) {
    view.append(
      h(
        "section",
        { class: "card model", "data-model": name },
        h("h2", {}, name),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, h("th", {}, "version"), h("th", {}, "stage"), h("th", {}, "metrics"), h("th", {}, "lineage"), h("th", {}, "digest"), h("th", {}, "registered"))),
            h(
              "tbody",
              {},
              list.map((v) =>
                h(
                  "tr",
                  { "data-version": v.version },
                  h("td", {}, `v${v.version}`),
                  h("td", {}, badge(v.stage)),
                  h("td", {}, Object.entries(v.metrics ?? {}).map(([k, x]) => h("div", {}, h("code", {}, k), ` ${fmtValue(x)}`))),
                  h("td", {}, lineage(v.lineage)),
                  h("td", { class: "mono" }, shortDigest(v.digest)),
                  h("td", {}, fmtTime(v.createdAt)),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }
}
