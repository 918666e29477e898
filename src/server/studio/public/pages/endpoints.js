/* global window */
/**
 * Endpoints: deployments with their traffic shares, request counts, errors and latency. An admin
 * can change the shares (and deploy another model version); the API checks the role again.
 */
import { api, ApiError, seg } from "../api.js";
import { fmtValue, h, notice } from "../dom.js";
import { can } from "../session.js";

function statsCells(s) {
  if (!s) return [h("td", { class: "num" }, "—"), h("td", { class: "num" }, "—"), h("td", { class: "num" }, "—")];
  return [h("td", { class: "num" }, String(s.requests ?? 0)), h("td", { class: "num" }, String((s.errors ?? 0) + (s.invalid ?? 0))), h("td", { class: "num" }, s.latency?.count ? `${fmtValue(s.latency.meanMs)} ms` : "—")];
}

/** The admin's form: one share per serving deployment; PUT /endpoints/:name/traffic. */
function trafficForm(name, deployments, status) {
  const inputs = new Map();
  const fields = deployments
    .filter((d) => !d.shadow)
    .map((d) => {
      const input = h("input", { type: "number", min: 0, max: 100, step: 1, name: d.deployment, value: d.trafficPercent });
      inputs.set(d.deployment, input);
      return h("label", {}, `${d.deployment} %`, input);
    });
  const form = h("form", { class: "form-row traffic", "data-endpoint": name }, fields, h("button", { class: "primary", type: "submit", "data-action": "traffic" }, "Set traffic"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const shares = Object.fromEntries([...inputs].map(([k, i]) => [k, Number(i.value)]));
    try {
      await api(`/endpoints/${seg(name)}/traffic`, { method: "PUT", body: { shares } });
      status.textContent = "Traffic updated.";
      window.dispatchEvent(new window.HashChangeEvent("hashchange"));
    } catch (err) {
      status.textContent = err instanceof ApiError ? `${err.code ?? err.status}: ${err.message}` : String(err);
    }
  });
  return form;
}

/** The admin's deploy form: add or replace a deployment with a model version (whole set PUT). */
function deployForm(name, deployments, status) {
  const dep = h("input", { name: "deployment", placeholder: "green", required: true });
  const model = h("input", { name: "model", value: deployments[0]?.model ?? "", required: true });
  const version = h("input", { type: "number", name: "version", min: 1, step: 1, required: true });
  const share = h("input", { type: "number", name: "share", min: 0, max: 100, step: 1, value: 0 });
  const form = h("form", { class: "form-row deploy", "data-endpoint": name }, h("label", {}, "deployment", dep), h("label", {}, "model", model), h("label", {}, "version", version), h("label", {}, "share %", share), h("button", { type: "submit", "data-action": "deploy" }, "Deploy"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const others = deployments.filter((d) => d.deployment !== dep.value).map((d) => ({ deployment: d.deployment, model: d.model, version: d.version, trafficPercent: d.trafficPercent, shadow: d.shadow }));
    const body = { deployments: [...others, { deployment: dep.value, model: model.value, version: Number(version.value), trafficPercent: Number(share.value), shadow: false }] };
    try {
      await api(`/endpoints/${seg(name)}/traffic`, { method: "PUT", body });
      status.textContent = "Deployed.";
      window.dispatchEvent(new window.HashChangeEvent("hashchange"));
    } catch (err) {
      status.textContent = err instanceof ApiError ? `${err.code ?? err.status}: ${err.message}` : String(err);
    }
  });
  return form;
}

/** Renders the endpoints page. */
export async function render(view, { signal }) {
  const list = await api("/endpoints", { signal });
  view.append(h("h1", {}, "Endpoints"));
  if (list.length === 0) return view.append(notice("No endpoints deployed."));
  for (const e of list) {
    const name = e.endpoint ?? e.name;
    const deployments = e.deployments ?? [];
    const status = h("p", { class: "muted", role: "status" });
    view.append(
      h(
        "section",
        { class: "card endpoint", "data-endpoint": name },
        h("h2", {}, name),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            {},
            h("thead", {}, h("tr", {}, h("th", {}, "deployment"), h("th", {}, "model"), h("th", { class: "num" }, "traffic"), h("th", {}, "shadow"), h("th", { class: "num" }, "requests"), h("th", { class: "num" }, "errors"), h("th", { class: "num" }, "mean latency"))),
            h("tbody", {}, deployments.map((d) => h("tr", { "data-deployment": d.deployment }, h("td", {}, d.deployment), h("td", {}, `${d.model} v${d.version}`), h("td", { class: "num", "data-field": "traffic" }, `${d.trafficPercent}%`), h("td", {}, d.shadow ? "shadow" : ""), statsCells(d.stats)))),
          ),
        ),
        can("admin") ? [h("h3", {}, "Traffic"), trafficForm(name, deployments, status), h("h3", {}, "Deploy a version"), deployForm(name, deployments, status)] : null,
        status,
      ),
    );
  }
}
