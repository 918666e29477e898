/* global fetch, sessionStorage, TextDecoder, URLSearchParams */
/**
 * The Studio's only way to the server: the public HTTP API under `/api/v1`, with the bearer
 * token kept in sessionStorage (gone when the tab closes). Server-sent events are read with
 * fetch (EventSource cannot send an Authorization header) and resumed with Last-Event-ID.
 */

const TOKEN_KEY = "sluice.token";

/** The signed-in token, or null. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps (or, with null, forgets) the token for this tab. */
export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An error answer of the API: `status`, `code`, `message`, `field`. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code ?? null;
    this.field = body?.error?.field ?? null;
  }
}

/** Calls `/api/v1<path>`; resolves with the JSON answer, rejects with ApiError. */
export async function api(path, { method = "GET", body, headers = {}, signal } = {}) {
  const h = { ...headers };
  const t = token();
  if (t) h.authorization = `Bearer ${t}`;
  if (body !== undefined) h["content-type"] = "application/json";
  const res = await fetch(`/api/v1${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

/** Query string from an object, leaving out empty values. */
export function qs(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Path segment escaping (step ids like `train[3]`). */
export const seg = encodeURIComponent;

let routes;
/** True when the server's OpenAPI document has `method path` (e.g. `get /api/v1/runs/{id}/steps/{step}/explain`). */
export async function hasRoute(method, path) {
  routes ??= api("/openapi.json").then((doc) => doc?.paths ?? {}).catch(() => ({}));
  const paths = await routes;
  return Boolean(paths[path]?.[method]);
}

/**
 * Follows a run's event stream: calls `onEvent(event, id)` for each event, reconnecting after a
 * dropped connection with Last-Event-ID; resolves when the stream ends (after `run.finished`) or
 * `signal` aborts.
 */
export async function followEvents(runId, onEvent, signal) {
  let last = 0;
  for (let tries = 0; tries < 20 && !signal?.aborted; tries++) {
    let ended = false;
    try {
      const headers = { accept: "text/event-stream" };
      const t = token();
      if (t) headers.authorization = `Bearer ${t}`;
      if (last) headers["last-event-id"] = String(last);
      const res = await fetch(`/api/v1/runs/${seg(runId)}/events`, { headers, signal });
      if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          let id = null;
          let data = "";
          for (const line of block.split("\n")) {
            if (line.startsWith("id: ")) id = Number(line.slice(4));
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          if (!data) continue;
          if (id !== null) last = id;
          const event = JSON.parse(data);
          onEvent(event, id);
          if (event.type === "run.finished") ended = true;
        }
      }
      ended = true; // the server ends the stream after run.finished
    } catch (err) {
      if (signal?.aborted || (err instanceof ApiError && err.status < 500)) return;
    }
    if (ended) return;
  }
}
