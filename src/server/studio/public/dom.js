/* global document, Node */
/**
 * Small DOM helpers: `h(tag, attrs, ...children)` builds elements (text is always set as text,
 * never parsed as HTML), and formatters for times, durations and values.
 */

/** Builds an element. attrs: `class`, `on<event>` handlers, `dataset`, other attributes. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/** Appends children (nodes, strings, arrays, null skipped). */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's content. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** `2026-11-29 08:40:12` in local time. */
export function fmtTime(ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `850 ms`, `12.3 s`, `4 min 2 s`. */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** A value for a table cell: numbers to 4 significant digits, objects as JSON. */
export function fmtValue(v) {
  if (v === undefined) return "—";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

/** A short digest: `sha256:1a2b3c4d…`. */
export function shortDigest(d) {
  if (!d) return "—";
  const [algo, hex] = String(d).includes(":") ? String(d).split(":") : ["", String(d)];
  return `${algo ? `${algo}:` : ""}${hex.slice(0, 10)}…`;
}

/** A status badge. */
export function badge(status) {
  return h("span", { class: `badge st-${status}`, dataset: { status } }, status);
}

/** A link inside the app (hash routing). */
export function link(href, ...children) {
  return h("a", { href }, ...children);
}

/** A message box for errors and empty states. */
export function notice(text, kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** Splits a map instance id `train[3]` into `{ base: "train", key: "3" }` (or null). */
export function mapInstance(stepId) {
  const m = /^(.*?)\[(.*)\]$/.exec(stepId);
  return m ? { base: m[1], key: m[2] } : null;
}
