/* global document */
/**
 * A pipeline DAG laid out by dagre and drawn as SVG. Each node is a `<g class="node st-<status>">`
 * with `data-step` and `data-status`, so colours come from the stylesheet (light and dark) and
 * tests can read the state. A `map` step is one node with its instance counts, however many
 * elements it has.
 */
import dagre from "./vendor/dagre.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** `{ cached: 9990, succeeded: 10 }` → `9990 cached · 10 ran`. */
export function countsLabel(counts) {
  const names = { cached: "cached", succeeded: "ran", running: "running", queued: "queued", pending: "pending", failed: "failed", skipped: "skipped", cancelled: "cancelled", interrupted: "interrupted" };
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${n} ${names[k] ?? k}`)
    .join(" · ");
}

/**
 * Draws `nodes` (`{ id, label?, kind, status, counts?, total? }`) and `edges` (`[from, to]`) into
 * `container`. Returns `{ update(node), select(id) }` to recolour a node or mark the selection
 * without a new layout.
 */
export function renderDag(container, { nodes, edges, onSelect, compact = false }) {
  const height = compact ? 34 : 48;
  const layout = (rankdir) => {
    const g = new dagre.graphlib.Graph();
    g.setGraph({ rankdir, nodesep: compact ? 14 : 22, ranksep: compact ? 36 : 54, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of nodes) {
      const label = n.kind === "map" ? `${n.label ?? n.id} (map)` : (n.label ?? n.id);
      const width = Math.max(90, Math.min(260, label.length * 7.9 + 28));
      g.setNode(n.id, { width, height, label });
    }
    const known = new Set(nodes.map((n) => n.id));
    for (const [a, b] of edges) if (known.has(a) && known.has(b)) g.setEdge(a, b);
    dagre.layout(g);
    return g;
  };
  // Left to right reads best; a graph too wide for its box is laid out top to bottom when that
  // keeps it larger on screen (long chains beside the step panel).
  let g = layout("LR");
  const boxWidth = container.clientWidth || (compact ? 1100 : 720);
  if (g.graph().width > boxWidth && nodes.length <= 400) {
    const tb = layout("TB");
    const scale = (x) => Math.min(1, boxWidth / x.graph().width);
    if (scale(tb) > scale(g) * 1.15 && tb.graph().height < 1400) g = tb;
  }
  const { width = 100, height: h = 60 } = g.graph();
  const svg = s("svg", { class: "dag", viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(h)}`, role: "group", "aria-label": "pipeline graph" });
  svg.style.maxWidth = `${Math.ceil(width)}px`;
  // On a narrow window the graph keeps a legible size and scrolls inside its box.
  svg.style.minWidth = `${Math.min(Math.ceil(width), 520)}px`;
  const defs = s("defs");
  const marker = s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" });
  marker.append(s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }));
  defs.append(marker);
  svg.append(defs);
  for (const e of g.edges()) {
    const pts = g.edge(e).points ?? [];
    const d = pts.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
    svg.append(s("path", { d, class: "edge", "marker-end": "url(#arrow)" }));
  }
  const groups = new Map();
  for (const n of nodes) {
    const box = g.node(n.id);
    const grp = s("g", { class: "node", transform: `translate(${(box.x - box.width / 2).toFixed(1)},${(box.y - box.height / 2).toFixed(1)})`, tabindex: 0, role: "button", "data-step": n.id, "data-kind": n.kind ?? "step" });
    // A map is drawn as a stack of cards: one node however many elements it has.
    if (n.kind === "map") grp.append(s("rect", { x: 4, y: -4, width: box.width, height: box.height, rx: 7, class: "stack" }));
    grp.append(s("rect", { width: box.width, height: box.height, rx: 7, class: "face" }));
    grp.append(s("text", { x: 10, y: compact ? 21 : 19, class: "label" }, box.label));
    if (!compact) grp.append(s("text", { x: 10, y: 36, class: "sub" }, ""));
    grp.append(s("title", {}, n.id));
    if (onSelect) {
      grp.addEventListener("click", () => onSelect(n.id));
      grp.addEventListener("keydown", (ev) => (ev.key === "Enter" || ev.key === " ") && onSelect(n.id));
    }
    groups.set(n.id, grp);
    svg.append(grp);
  }
  container.replaceChildren(svg);

  function update(n) {
    const grp = groups.get(n.id);
    if (!grp) return;
    const status = n.status ?? "pending";
    grp.setAttribute("class", `node st-${status}${grp.classList.contains("selected") ? " selected" : ""}`);
    grp.setAttribute("data-status", status);
    const sub = grp.querySelector(".sub");
    if (sub) sub.textContent = n.kind === "map" ? (n.total !== undefined ? `${n.total} · ${countsLabel(n.counts ?? {})}` : status) : n.sub ?? status;
    grp.querySelector("title").textContent = `${n.id}: ${status}${n.kind === "map" && n.counts ? ` (${countsLabel(n.counts)})` : ""}`;
  }
  for (const n of nodes) update(n);
  return {
    update,
    select(id) {
      for (const [k, grp] of groups) grp.classList.toggle("selected", k === id);
    },
  };
}
