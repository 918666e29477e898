/* global document, window, URLSearchParams, AbortController */
/**
 * The Studio's shell: sign-in with a bearer token, the navigation, and a hash router
 * (`#/runs/<id>`) that hands each page its container and query. Pages are modules in `pages/`
 * exporting `render(view, { params, query, signal })`; leaving a page aborts `signal`, which
 * closes its event streams.
 */
import { api, ApiError, setToken, token } from "./api.js";
import { h, notice, replace } from "./dom.js";
import { session } from "./session.js";

const PAGES = {
  pipelines: () => import("./pages/pipelines.js"),
  runs: () => import("./pages/runs.js"),
  run: () => import("./pages/run.js"),
  compare: () => import("./pages/compare.js"),
  models: () => import("./pages/models.js"),
  endpoints: () => import("./pages/endpoints.js"),
};

const view = document.getElementById("view");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let current = null;

/** `#/runs/abc?x=1` → `{ page: "run", params: { id: "abc" }, query }`. */
function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path, q = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const query = Object.fromEntries(new URLSearchParams(q));
  if (parts[0] === "runs" && parts[1]) return { page: "run", section: "runs", params: { id: parts[1] }, query };
  const page = PAGES[parts[0]] ? parts[0] : "pipelines";
  return { page, section: page, params: { name: parts[1] }, query };
}

async function route() {
  current?.abort();
  const ctl = new AbortController();
  current = ctl;
  if (!session.actor) return showSignIn();
  const r = parseHash();
  for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", a.dataset.nav === r.section);
  replace(view, notice("Loading…"));
  try {
    const mod = await PAGES[r.page]();
    if (ctl.signal.aborted) return;
    const box = h("div", { class: "page", "data-page": r.page });
    await mod.render(box, { params: r.params, query: r.query, signal: ctl.signal });
    if (!ctl.signal.aborted) replace(view, box);
  } catch (err) {
    if (ctl.signal.aborted) return;
    if (err instanceof ApiError && err.status === 401) return signOut("Your token is no longer valid. Sign in again.");
    replace(view, notice(err?.message ?? String(err), "error"));
  }
}

function showSignIn(message) {
  nav.hidden = true;
  replace(who);
  const input = h("input", { type: "password", name: "token", autocomplete: "off", placeholder: "slc_…", "aria-label": "token", required: true });
  const err = message ? notice(message, "error") : null;
  const form = h(
    "form",
    { class: "card signin", id: "signin" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "Paste a bearer token (", h("code", {}, "sluice token create --role viewer --name you"), "). It stays in this tab only."),
    err,
    h("p", {}, input),
    h("button", { class: "primary", type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    await start();
  });
  replace(view, form);
}

function signOut(message) {
  // Stop the page too: its refresh timers and event streams would go on asking without a token.
  current?.abort();
  current = null;
  setToken(null);
  session.actor = null;
  showSignIn(message);
}

async function start() {
  if (!token()) return showSignIn();
  try {
    session.actor = await api("/whoami");
  } catch (err) {
    return signOut(err instanceof ApiError && err.status === 401 ? "That token was not accepted." : `Cannot reach the server: ${err.message}`);
  }
  nav.hidden = false;
  replace(who, h("span", { "data-role": session.actor.role }, `${session.actor.name} · ${session.actor.role}`), h("button", { type: "button", id: "signout", onclick: () => signOut() }, "Sign out"));
  await route();
}

window.addEventListener("hashchange", () => void route());
void start();
