// The "Actions" view of the Warm Tasks page: the plugin's action log (GET api/v1/actions), searchable and paged.
//
// Who did what, when, on which DAG / run / sub-task, and how it ended (a refusal with its reason). The API
// lists only actions on DAGs the user may read. Dates in the search are read in Airflow's UI zone (tz.js).

import { api } from "./api.js";
import { handleLoadError } from "./notices.js";
import { morphInto } from "./morph.js";
import { zonedToUtc } from "./tz.js";
import { $, esc, fmtInt, fmtTime, label } from "./util.js";

export const LOG_FILTERS = ["user", "action", "dag_id", "run_id", "outcome", "after", "before"];
const KNOWN_ACTIONS = ["source_status", "delete_source", "terminate", "verify", "rollback", "reexecute", "resume", "maintenance"];
export const L = { filters: {}, offset: 0, limit: 25, data: null, total: null, seq: 0, outcomes: [] };

/** The query of the current search: dates from the form's wall clock in the zone to UTC. */
function query() {
  const p = new URLSearchParams({ limit: L.limit, offset: L.offset });
  for (const f of LOG_FILTERS) {
    let v = L.filters[f];
    if (!v) continue;
    if (f === "after" || f === "before") v = zonedToUtc(v) ?? v;
    p.set(f, v);
  }
  return `actions?${p}`;
}

export async function loadLog() {
  const seq = ++L.seq;
  try {
    const page = await api(query());
    if (seq !== L.seq) return;
    L.data = Array.isArray(page.actions) ? page.actions : [];
    L.total = Number(page.total ?? L.data.length);
    if (Array.isArray(page.outcomes) && String(page.outcomes) !== String(L.outcomes)) {
      L.outcomes = page.outcomes;
      fillOutcomes();
    }
  } catch (e) {
    if (seq !== L.seq) return;
    handleLoadError(e, true);
  }
  renderLog();
}

function fillOutcomes() {
  const sel = $("#log-form").elements.outcome;
  const keep = L.filters.outcome || sel.value;
  sel.innerHTML = `<option value="">Any</option>` + L.outcomes.map((o) => `<option value="${esc(o)}">${esc(label(o))}</option>`).join("");
  sel.value = keep || "";
}

export function fillLogForm() {
  const f = $("#log-form");
  for (const name of LOG_FILTERS) f.elements[name].value = L.filters[name] || "";
  $("#log-action-names").innerHTML = KNOWN_ACTIONS.map((a) => `<option value="${esc(a)}">`).join("");
}
function readLogForm() {
  const f = $("#log-form");
  const out = {};
  for (const name of LOG_FILTERS) { const v = (f.elements[name].value || "").trim(); if (v) out[name] = v; }
  return out;
}

function outcomeBadge(a) {
  const o = a.outcome || "";
  const code = a.http_status && a.http_status !== 200 ? ` · ${a.http_status}` : "";
  return `<span class="badge out-${esc(o)}" data-value="${esc(o)}">${esc(label(o))}${esc(code)}</span>`;
}
function detail(a) {
  const parts = [];
  if (a.detail) parts.push(esc(a.detail));
  if (a.maintenance_run_id) parts.push(`maintenance run <span class="mono">${esc(a.maintenance_run_id)}</span>`);
  if (a.new_run_id) parts.push(`new run <span class="mono">${esc(a.new_run_id)}</span>`);
  return parts.join("<br>") || `<span class="muted">–</span>`;
}
function logRow(a) {
  return `<tr class="log-row" data-key="act-${esc(a.id)}" data-user="${esc(a.user_name)}" data-action="${esc(a.action)}" data-outcome="${esc(a.outcome)}" data-dag="${esc(a.dag_id)}" data-run="${esc(a.run_id)}">` +
    `<td class="times" data-col="time" title="${esc(a.created_at)} (UTC)">${fmtTime(a.created_at)}</td>` +
    `<td data-col="user"><b>${esc(a.user_name)}</b></td>` +
    `<td data-col="action">${esc(label(a.action))}</td>` +
    `<td class="run-cell" data-col="target"><span class="dag">${esc(a.dag_id)}</span><span class="run mono muted" title="${esc(a.run_id)}">${esc(a.run_id)}</span></td>` +
    `<td data-col="task">${a.task_id ? `<span class="mono">${esc(a.task_id)}</span>` : '<span class="muted small">all</span>'}</td>` +
    `<td data-col="outcome">${outcomeBadge(a)}</td>` +
    `<td class="detail-text small" data-col="detail">${detail(a)}</td></tr>`;
}

export function renderLog() {
  const body = L.data === null ? `<tr class="loading-row" data-key="loading"><td colspan="7">Loading…</td></tr>` : L.data.map(logRow).join("");
  morphInto($("#log-body"), body);
  const empty = $("#log-empty");
  empty.hidden = !(L.data && !L.data.length);
  empty.textContent = LOG_FILTERS.some((f) => L.filters[f]) ? "No action matches this search." : "No action recorded yet.";
  const total = L.total ?? 0;
  const from = total ? L.offset + 1 : 0, to = Math.min(total, L.offset + L.limit);
  const last = L.offset + L.limit >= total;
  morphInto($("#log-pager"), `<span class="range" data-range>${fmtInt(from)}–${fmtInt(to)} of ${fmtInt(total)}</span>
    <span class="pages">
      <button type="button" class="btn btn-sm" data-log-page="prev" aria-label="Newer actions"${L.offset ? "" : " disabled"}>‹ Newer</button>
      <button type="button" class="btn btn-sm" data-log-page="next" aria-label="Older actions"${last ? " disabled" : ""}>Older ›</button>
    </span>`);
}

/** Wire the view's form and pager; `changed()` is told when the search changes (to update the URL). */
export function bindLog(changed) {
  $("#log-form").addEventListener("submit", (e) => {
    e.preventDefault();
    L.filters = readLogForm();
    L.offset = 0;
    changed();
    loadLog();
  });
  $("#log-reset-btn").addEventListener("click", () => {
    L.filters = {};
    L.offset = 0;
    fillLogForm();
    changed();
    loadLog();
  });
  $("#log-refresh-btn").addEventListener("click", () => loadLog());
  $("#log-pager").addEventListener("click", (e) => {
    const b = e.target.closest("[data-log-page]");
    if (!b || b.disabled) return;
    L.offset = b.dataset.logPage === "next" ? L.offset + L.limit : Math.max(0, L.offset - L.limit);
    changed();
    loadLog();
  });
}
