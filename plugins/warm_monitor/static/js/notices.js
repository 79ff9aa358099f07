// Notices of the Warm Tasks page: toasts, the connection/session banner and the confirmation dialog.

import { AIRFLOW_ROOT, READ_TIMEOUT_MS } from "./api.js";
import { hooks, S } from "./state.js";
import { $, esc, fmtTime } from "./util.js";

// ---------------------------------------------------------------- toasts
export function toast(kind, text, { timeout, html } = {}) {
  const box = $("#toasts");
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.dataset.kind = kind;
  el.innerHTML = `<div class="msg">${html ?? esc(text)}</div><button type="button" class="close" aria-label="Dismiss">×</button>`;
  el.querySelector(".close").addEventListener("click", () => el.remove());
  box.appendChild(el);
  while (box.children.length > 6) box.firstChild.remove();
  const ms = timeout ?? (kind === "error" ? 20000 : 8000);
  if (ms) setTimeout(() => el.remove(), ms);
  return el;
}

// ---------------------------------------------------------------- connection / session notices
function setBanner(kind, html) {
  const b = $("#banner");
  if (!kind) { b.hidden = true; b.className = "banner"; b.innerHTML = ""; b.dataset.kind = ""; return; }
  b.className = `banner ${kind === "auth" ? "error" : "warn"}`;
  b.dataset.kind = kind;
  b.innerHTML = html;
  b.hidden = false;
}
export function connectionOk() {
  if (S.offline) toast("success", "Connection to Airflow restored.", { timeout: 5000 });
  if (S.unauthorized) toast("success", "Signed in again.", { timeout: 4000 });
  S.offline = false;
  S.unauthorized = false;
  setBanner(null);
}
export function loginLink() { return `<a href="${esc(AIRFLOW_ROOT.href)}" data-airflow-link>Log in to Airflow</a>`; }
export function handleLoadError(e, manual) {
  const what = e.timedOut ? `did not answer within ${READ_TIMEOUT_MS / 1000} seconds` : "is unreachable";
  if (e.status === 0 || e.status === 502 || e.status === 503 || e.status === 504) {
    S.offline = true;
    const since = S.lastOk ? ` Showing data from ${fmtTime(S.lastOk)}.` : "";
    setBanner("offline", `<span>⚠</span><span><b>Airflow's API server ${what}.</b> Retrying every 3 seconds…${esc(since)}</span>`);
  } else if (e.status === 401) {
    S.unauthorized = true;
    setBanner("auth", `<span><b>You are not logged in to Airflow</b> (or your session expired). ${loginLink()}, then this page picks up again by itself.</span>`);
  } else if (e.status === 403) {
    setBanner("forbidden", `<span><b>Access refused:</b> ${esc(e.detail)}</span>`);
  } else if (e.status === 422) {
    toast("error", `Search refused: ${e.detail}`);
  } else {
    setBanner("server", `<span><b>The warm task list could not be loaded</b> (HTTP ${e.status}): ${esc(e.detail)}</span>`);
  }
  if (manual && e.status === 0) toast("error", `Refresh failed: Airflow's API server ${what}.`);
  hooks.render();
}

// ---------------------------------------------------------------- confirm dialog
export function confirmDialog({ title, html, okLabel, destructive }) {
  const d = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-body").innerHTML = html;
  const ok = $("#confirm-ok");
  ok.textContent = okLabel;
  ok.className = `btn ${destructive ? "btn-red" : "btn-yellow"}`;
  d.returnValue = "";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.showModal();
    $("#confirm-cancel").focus();
  });
}
