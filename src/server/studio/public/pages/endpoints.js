/* global window, setTimeout, clearTimeout */
/**
 * Endpoints: deployments with their traffic shares, request counts, errors and latency. An admin
 * can change the shares (and deploy another model version); the API checks the role again.
 */
import { api, ApiError, seg } from "../api.js";
import { fmtValue, h, notice } from "../dom.js";
import { can } from "../session.js";

/** `≤ 5 ms`: the bucket bound under which a fraction `q` of the answered requests fall. */
function quantile(latency, q) {
  if (!latency?.count) return "—";
  const want = q * latency.count;
  const b = (latency.buckets ?? []).find((x) => x.count >= want);
  return b ? `≤ ${fmtValue(b.leMs)} ms` : `> ${fmtValue(latency.buckets.at(-1)?.leMs ?? 0)} ms`;
}

/** Stats cells of a deployment; `rate` is requests/s since the previous refresh (or null). */
function statsCells(s, rate) {
  if (!s) return [h("td", { class: "num" }, "—"), h("td", { class: "num" }, "—"), h("td", { class: "num" }, "—"), h("td", { class: "num" }, "—"), h("td", { class: "num" }, "—")];
  return [
    h("td", { class: "num", "data-field": "requests" }, String(s.requests ?? 0)),
    h("td", { class: "num", "data-field": "rate" }, rate === null ? "—" : `${fmtValue(rate)}/s`),
    h("td", { class: "num", "data-field": "errors" }, String((s.errors ?? 0) + (s.invalid ?? 0))),
    h("td", { class: "num", "data-field": "mean" }, s.latency?.count ? `${fmtValue(s.latency.meanMs)} ms` : "—"),
    h("td", { class: "num", "data-field": "p99" }, quantile(s.latency, 0.99)),
  ];
}

/** The deployments table body, with request rates from the previous sample (`prev`: key → { requests, at }). */
function deploymentRows(name, deployments, prev, now) {
  return deployments.map((d) => {
    const key = `${name}/${d.deployment}`;
    const before = prev.get(key);
    const rate = before && d.stats && now > before.at ? ((d.stats.requests - before.requests) * 1000) / (now - before.at) : null;
    if (d.stats) prev.set(key, { requests: d.stats.requests, at: now });
    return h("tr", { "data-deployment": d.deployment }, h("td", {}, d.deployment), h("td", {}, `${d.model} v${d.version}`), h("td", { class: "num", "data-field": "traffic" }, `${d.trafficPercent}%`), h("td", {}, d.shadow ? "shadow" : ""), statsCells(d.stats, rate));
  });
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

const REFRESH_MS = 5000;

/** Renders the endpoints page; the numbers refresh every 5 s while it is open. */
export async function render(view, { signal }) {
  const list = await api("/endpoints", { signal });
  const prev = new Map();
  view.append(h("h1", {}, "Endpoints"));
  if (list.length === 0) return view.append(notice("No endpoints deployed."));
  const bodies = new Map();
  for (const e of list) {
    const name = e.endpoint ?? e.name;
    const deployments = e.deployments ?? [];
    const status = h("p", { class: "muted", role: "status" });
    const tbody = h("tbody", {}, deploymentRows(name, deployments, prev, Date.now()));
    bodies.set(name, tbody);
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
            h("thead", {}, h("tr", {}, h("th", {}, "deployment"), h("th", {}, "model"), h("th", { class: "num" }, "traffic"), h("th", {}, "shadow"), h("th", { class: "num" }, "requests"), h("th", { class: "num" }, "rate"), h("th", { class: "num" }, "errors"), h("th", { class: "num" }, "mean latency"), h("th", { class: "num" }, "p99"))),
            tbody,
          ),
        ),
        can("admin") ? [h("h3", {}, "Traffic"), trafficForm(name, deployments, status), h("h3", {}, "Deploy a version"), deployForm(name, deployments, status)] : null,
        status,
      ),
    );
  }
  const refresh = async () => {
    if (signal.aborted) return;
    try {
      const now = Date.now();
      for (const e of await api("/endpoints", { signal })) {
        const tbody = bodies.get(e.endpoint ?? e.name);
        if (tbody) tbody.replaceChildren(...deploymentRows(e.endpoint ?? e.name, e.deployments ?? [], prev, now));
      }
    } catch {
      /* the next refresh tries again */
    }
    if (!signal.aborted) timer = setTimeout(refresh, REFRESH_MS);
  };
  let timer = setTimeout(refresh, REFRESH_MS);
  signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
}
