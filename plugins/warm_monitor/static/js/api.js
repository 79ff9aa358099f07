// API client of the Warm Tasks page: where the plugin's API is, and fetch with JSON errors and a 20-second read abort.
//
// Talks to the plugin API at <mount>/api/v1 (mount = the folder above static/, e.g. /warm/),
// same-origin with Airflow's api-server: the `_token` cookie authenticates every call, and writes
// carry a JSON body plus the X-Requested-With header the API's CSRF check asks for.

export const MOUNT = new URL("../../", import.meta.url);   // e.g. https://host/warm/ (this file is static/js/api.js)
export const API = new URL("api/v1/", MOUNT);              // e.g. https://host/warm/api/v1/
export const AIRFLOW_ROOT = new URL("../", MOUNT);         // e.g. https://host/
export const READ_TIMEOUT_MS = 20000;

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; this.detail = detail; }
}

function detailText(body, status) {
  if (!body) return `HTTP ${status}`;
  const d = body.detail ?? body.message ?? body.error;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) return d.map((x) => (x && x.msg ? `${(x.loc || []).slice(1).join(".") || "input"}: ${x.msg}` : JSON.stringify(x))).join("; ");
  if (d) return JSON.stringify(d);
  return `HTTP ${status}`;
}

/** Call the plugin API (`path` relative to api/v1/); resolves to the JSON body, rejects with an ApiError. */
export async function api(path, { method = "GET", body } = {}) {
  const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" };
  if (method !== "GET") {
    opts.headers["Content-Type"] = "application/json";
    opts.headers["X-Requested-With"] = "warm-monitor";
    opts.body = JSON.stringify(body ?? {});
  }
  // A read that never answers would stop the 3-second refresh for good: give it up and let the next
  // refresh ask again. Writes are never abandoned (the server may be applying them).
  const guard = method === "GET" ? new AbortController() : null;
  const timer = guard && setTimeout(() => guard.abort(), READ_TIMEOUT_MS);
  if (guard) opts.signal = guard.signal;
  let res, text;
  try {
    res = await fetch(new URL(path, API), opts);
    text = await res.text().catch((e) => { if (guard && guard.signal.aborted) throw e; return ""; });
  } catch (e) {
    if (guard && guard.signal.aborted) throw Object.assign(new ApiError(0, "Airflow's API server is not answering"), { timedOut: true });
    throw new ApiError(0, "Cannot reach Airflow's API server");
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (e) { data = { detail: text.slice(0, 300) }; } }
  if (!res.ok) throw new ApiError(res.status, detailText(data, res.status));
  return data ?? {};
}
