/* global requestAnimationFrame */
/**
 * One run: its DAG coloured by step status, updated live from the run's event stream while it
 * runs; a step panel (see step-panel.js); a map step is one node with its counts. An operator
 * can cancel a running run.
 */
import { api, ApiError, followEvents, seg } from "../api.js";
import { renderDag } from "../dag.js";
import { badge, fmtDuration, fmtTime, fmtValue, h, mapInstance, notice, replace } from "../dom.js";
import { can } from "../session.js";
import { appendLog, mapDetails, stepDetails } from "./step-panel.js";

const LEGEND = ["pending", "queued", "running", "cached", "succeeded", "failed", "skipped", "cancelled"];

/** Event type → the step status it means. */
const STATUS_OF = { "step.queued": "queued", "step.waiting": "queued", "step.started": "running", "step.retrying": "queued", "step.cached": "cached", "step.succeeded": "succeeded", "step.failed": "failed", "step.skipped": "skipped", "step.cancelled": "cancelled" };

/** The run's state: its record, top-level steps and map instances, kept current from events; `pipelineSteps` is the run's graph (`{ id, kind, dependsOn }`). */
function createState(run, steps, pipelineSteps) {
  const top = new Map();
  const instances = new Map();
  const totals = new Map();
  const put = (rec) => {
    const inst = mapInstance(rec.stepId);
    if (inst) (instances.get(inst.base) ?? instances.set(inst.base, new Map()).get(inst.base)).set(rec.stepId, rec);
    else top.set(rec.stepId, rec);
  };
  for (const s of steps) put(s);
  const blank = (stepId) => ({ runId: run.id, stepId, stepName: stepId, status: "pending", cacheKey: null, inputs: {}, outputs: {}, executor: null, worker: null, attempts: 0, startedAt: null, finishedAt: null, durationMs: null, error: null, reason: null });
  return {
    run,
    top,
    instances,
    totals,
    pipelineSteps,
    put,
    get(stepId) {
      const inst = mapInstance(stepId);
      return inst ? instances.get(inst.base)?.get(stepId) : top.get(stepId);
    },
    /** Applies one event; returns the step id it touched (or null). */
    apply(e) {
      if (e.type === "map.expanded") {
        totals.set(e.stepId, e.count);
        const rec = this.get(e.stepId) ?? blank(e.stepId);
        Object.assign(rec, { status: "running", startedAt: e.ts, reason: `${e.count} instances` });
        put(rec);
        return e.stepId;
      }
      if (e.type === "map.finished") {
        const rec = this.get(e.stepId) ?? blank(e.stepId);
        Object.assign(rec, { status: e.status, durationMs: e.durationMs, finishedAt: e.ts, outputs: e.outputs });
        put(rec);
        return e.stepId;
      }
      const status = STATUS_OF[e.type];
      if (!status) return null;
      const rec = this.get(e.stepId) ?? blank(e.stepId);
      rec.status = status;
      if (e.reason) rec.reason = e.reason;
      if (e.executor) rec.executor = e.executor;
      if ("worker" in e) rec.worker = e.worker;
      if (e.attempt) rec.attempts = e.attempt;
      if (e.key) rec.cacheKey = e.key;
      if (e.inputs) rec.inputs = e.inputs;
      if (e.outputs) rec.outputs = e.outputs;
      if (e.type === "step.started") rec.startedAt = e.ts;
      if (e.durationMs !== undefined) rec.durationMs = e.durationMs;
      if (e.type === "step.cached") Object.assign(rec, { reason: e.source === "peer" ? "made by a concurrent run" : "cache hit", durationMs: 0 });
      if (e.error) rec.error = e.error;
      put(rec);
      return e.stepId;
    },
    /** The DAG's nodes and edges now. */
    graph(live) {
      const planned = pipelineSteps ?? [];
      const ids = new Set(planned.map((s) => s.id).filter((id) => live || top.has(id) || instances.has(id)));
      for (const id of top.keys()) ids.add(id);
      for (const id of instances.keys()) ids.add(id);
      const kindOf = new Map(planned.map((s) => [s.id, s.kind]));
      const nodes = [...ids].map((id) => this.node(id, kindOf.get(id)));
      const edges = planned.flatMap((s) => (s.dependsOn ?? []).map((d) => [d, s.id]));
      // Steps outside the run's graph (its pipeline no longer plans): wire them by artifact digests.
      const producer = new Map();
      for (const r of top.values()) for (const d of Object.values(r.outputs ?? {})) producer.set(d, r.stepId);
      for (const id of ids) {
        if (kindOf.has(id)) continue;
        const ins = Object.values(top.get(id)?.inputs ?? {});
        for (const d of ins) if (producer.has(d) && producer.get(d) !== id) edges.push([producer.get(d), id]);
      }
      return { nodes, edges };
    },
    node(id, kind) {
      const rec = top.get(id);
      const inst = instances.get(id);
      const isMap = kind === "map" || Boolean(inst) || totals.has(id);
      if (!isMap) return { id, kind: kind ?? "step", status: rec?.status ?? "pending" };
      const counts = {};
      for (const r of inst?.values() ?? []) counts[r.status] = (counts[r.status] ?? 0) + 1;
      return { id, kind: "map", status: rec?.status ?? (inst ? "running" : "pending"), counts, total: totals.get(id) ?? inst?.size ?? 0 };
    },
  };
}

function paramsTable(params) {
  const entries = Object.entries(params ?? {});
  if (entries.length === 0) return h("p", { class: "muted" }, "No params.");
  return h("table", { class: "params" }, h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("th", {}, h("code", {}, k)), h("td", {}, fmtValue(v))))));
}

/** Renders the run page. */
export async function render(view, { params, signal }) {
  const runId = params.id;
  const first = await api(`/runs/${seg(runId)}`, { signal });
  // The run's own graph (its pipeline planned with its params); null when that no longer plans.
  const state = createState(first.run, first.steps, first.graph ?? null);
  let live = first.live || first.run.status === "running";

  const head = h("div", { class: "card run-head" });
  const dagBox = h("div", { class: "dag-box", id: "run-dag" });
  const panel = h("aside", { class: "card step-panel", id: "step-panel" }, h("p", { class: "muted" }, "Click a step to see its logs, metrics and why it ran or was cached."));
  let dag = null;
  let layoutKey = "";
  let selected = null;
  let panelLogs = null;

  const drawHead = () => {
    const r = state.run;
    const cancel = live && can("operator") ? h("button", { type: "button", id: "cancel-run", "data-action": "cancel", onclick: () => void api(`/runs/${seg(r.id)}/cancel`, { method: "POST", body: {} }).catch((err) => head.append(notice(err.message, "error"))) }, "Cancel run") : null;
    replace(
      head,
      h("h1", {}, "Run ", h("code", {}, r.id), " ", h("span", { id: "run-status", "data-status": r.status }, badge(r.status))),
      h("div", { class: "row-actions" }, h("span", {}, "pipeline ", h("a", { href: `#/pipelines/${encodeURIComponent(r.pipeline)}` }, r.pipeline)), h("span", { class: "muted" }, `${r.trigger} · ${r.actor} · started ${fmtTime(r.startedAt)} · ${r.finishedAt ? fmtDuration(r.finishedAt - r.startedAt) : "running"}`), live ? h("span", { class: "badge st-running", id: "live" }, "live") : null, cancel, h("a", { href: `#/compare?runs=${encodeURIComponent(r.id)}` }, "compare…")),
      r.error ? notice(`${r.error.code ?? "error"}: ${r.error.message ?? ""}`, "error") : null,
      h("details", {}, h("summary", {}, "Params"), paramsTable(r.params)),
    );
  };

  const select = async (id) => {
    selected = id;
    dag?.select(mapInstance(id)?.base ?? id);
    panelLogs = null;
    const node = state.node(id, (state.pipelineSteps ?? []).find((s) => s.id === id)?.kind);
    if (node.kind === "map") {
      const inst = [...(state.instances.get(id)?.values() ?? [])];
      mapDetails(panel, { rec: state.top.get(id), instances: inst, total: node.total, onPick: (r) => void select(r.stepId) });
      return;
    }
    const rec = state.get(id) ?? { stepId: id, stepName: id, status: "pending" };
    const base = mapInstance(id)?.base;
    panelLogs = await stepDetails(panel, { run: state.run, rec, signal, onBack: base ? () => void select(base) : undefined });
  };

  const drawDag = () => {
    const { nodes, edges } = state.graph(live);
    const key = JSON.stringify([nodes.map((n) => n.id), edges]);
    if (key !== layoutKey || !dag) {
      layoutKey = key;
      dag = renderDag(dagBox, { nodes, edges, onSelect: (id) => void select(id) });
      if (selected) dag.select(mapInstance(selected)?.base ?? selected);
    } else for (const n of nodes) dag.update(n);
  };

  drawHead();
  drawDag();
  view.append(head, h("div", { class: "legend" }, LEGEND.map((s) => badge(s))), h("div", { class: "grid2" }, h("section", {}, dagBox), panel));

  if (!live) return;
  let frame = 0;
  const redraw = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      drawDag();
    });
  };
  void followEvents(
    runId,
    async (e) => {
      if (e.type === "log") {
        if (panelLogs && e.stepId === selected) appendLog(panelLogs, e);
        return;
      }
      if (e.type === "run.finished") {
        try {
          const fin = await api(`/runs/${seg(runId)}`, { signal });
          state.run = fin.run;
          for (const s of fin.steps) state.put(s);
        } catch (err) {
          if (!(err instanceof ApiError)) throw err;
          Object.assign(state.run, { status: e.status, finishedAt: e.ts, error: e.error });
        }
        live = false;
        drawHead();
        drawDag();
        if (selected && !signal.aborted) void select(selected);
        return;
      }
      const touched = state.apply(e);
      if (touched) {
        redraw();
        // A selected map is redrawn when it finishes, not once per instance.
        if (selected && touched === selected && e.type !== "step.started") void select(selected);
      }
    },
    signal,
  );
}
