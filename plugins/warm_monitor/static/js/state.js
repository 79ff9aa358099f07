// Page state of the Warm Tasks page: tabs, the search form, the URL, and loading with the 3-second refresh.

import { api } from "./api.js";
import { zonedToUtc } from "./tz.js";
import { $, esc, keyOf, label } from "./util.js";

const REFRESH_MS = 3000;
export const FILTERS = ["dag_id", "run_id", "table", "strategy", "state", "source_status", "start_after", "start_before", "q"];
export const PAGE_SIZES = [25, 50, 100, 200];

// The tabs are the page's tab buttons; which run states each one lists comes from the API (contract.py's
// Tab), in every page of tasks it returns ("states"), and each task says its own "tab".
const TAB_BUTTONS = Array.from(document.querySelectorAll(".tabs [data-tab]"));
export const TABS = TAB_BUTTONS.map((b) => b.dataset.tab);
export const TAB_LABEL = Object.fromEntries(TAB_BUTTONS.map((b) => [b.dataset.tab, b.firstChild.textContent.trim()]));

const blankTab = () => ({ filters: {}, offset: 0, limit: 25, order: "-start", selected: new Set(), data: null, total: null });
export const S = {
  view: "tasks",           // "tasks" (the three tabs) or "actions" (the action log, log.js)
  tab: "in_progress",
  tabs: Object.fromEntries(TABS.map((t) => [t, blankTab()])),
  tabStates: {},           // tab -> the run states it lists, as the API last said
  choices: { strategies: [], source_statuses: [] }, // the other filters' choices, as the API last said
  expanded: new Set(),     // parent keys
  sqlOpen: new Set(),      // parent keys or parent\u241ftask_id
  errOpen: new Set(),
  counts: {},
  auto: true,
  seq: 0,
  timer: null,
  offline: false,
  unauthorized: false,
  lastOk: null,
  focus: null,             // {dag_id, run_id, task_id} from the URL (the "Warm" tab of a run / TI page)
  busy: new Set(),         // action keys in flight
  loading: false,
};

/** What loading reports to the rest of the page (app.js wires these to render.js and notices.js). */
export const hooks = {
  render() {},
  loadingHint() {},
  connected() {},
  failed(e, manual) {},
};

// ---------------------------------------------------------------- URL state
export function readUrl() {
  const p = new URLSearchParams(location.search);
  const tab = p.get("tab");
  if (TABS.includes(tab)) S.tab = tab;
  const ts = S.tabs[S.tab];
  for (const f of FILTERS) if (p.get(f)) ts.filters[f] = p.get(f);
  if (p.get("order_by")) ts.order = p.get("order_by");
  if (p.get("limit") && PAGE_SIZES.includes(+p.get("limit"))) ts.limit = +p.get("limit");
  if (p.get("offset")) ts.offset = Math.max(0, +p.get("offset") || 0);
  if (p.get("dag_id") && p.get("run_id") && !tab) S.focus = { dag_id: p.get("dag_id"), run_id: p.get("run_id"), task_id: p.get("task_id") || null };
  else if (p.get("dag_id") && p.get("run_id")) S.focus = { dag_id: p.get("dag_id"), run_id: p.get("run_id"), task_id: p.get("task_id") || null, keepTab: true };
}
export function writeUrl() {
  const ts = S.tabs[S.tab];
  const p = new URLSearchParams();
  p.set("tab", S.tab);
  for (const f of FILTERS) if (ts.filters[f]) p.set(f, ts.filters[f]);
  if (S.focus && S.focus.task_id) p.set("task_id", S.focus.task_id);
  if (ts.order !== "-start") p.set("order_by", ts.order);
  if (ts.limit !== 25) p.set("limit", ts.limit);
  if (ts.offset) p.set("offset", ts.offset);
  try { history.replaceState(null, "", `${location.pathname}?${p}`); } catch (e) { /* sandbox */ }
}

// ---------------------------------------------------------------- search form
/** A select's choices as the API said them (plus the filter's value, if another), keeping its value. */
function fillOptions(name, values, keep, show = (v) => v) {
  const sel = $("#search-form").elements[name];
  const value = keep ?? sel.value;
  const all = [...(values || [])];
  if (value && !all.includes(value)) all.push(value);
  sel.innerHTML = `<option value="">Any</option>` + all.map((v) => `<option value="${esc(v)}">${esc(show(v))}</option>`).join("");
  sel.value = value;
}
/** The state filter's choices: the run states the current tab lists. */
function fillStateOptions(keep) {
  fillOptions("state", S.tabStates[S.tab], keep, label);
}
export function fillForm() {
  const ts = S.tabs[S.tab];
  const f = $("#search-form");
  fillStateOptions(ts.filters.state || "");
  fillOptions("strategy", S.choices.strategies, ts.filters.strategy || "");
  fillOptions("source_status", S.choices.source_statuses, ts.filters.source_status || "");
  for (const name of FILTERS) if (f.elements[name]) f.elements[name].value = ts.filters[name] || "";
}
export function readForm() {
  const f = $("#search-form");
  const out = {};
  for (const name of FILTERS) { const v = (f.elements[name].value || "").trim(); if (v) out[name] = v; }
  return out;
}

// ---------------------------------------------------------------- loading
function query(tab, extra = {}) {
  const ts = S.tabs[tab];
  const p = new URLSearchParams({ tab, limit: ts.limit, offset: ts.offset, order_by: ts.order });
  for (const f of FILTERS) {
    let v = ts.filters[f];
    if (!v) continue;
    if (f === "start_after" || f === "start_before") v = zonedToUtc(v) ?? v;  // the form's wall clock is in Airflow's UI zone
    p.set(f, v);
  }
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return `tasks?${p}`;
}

function learnTabStates(tab, page) {
  if (!page || !Array.isArray(page.states)) return;
  const changed = String(S.tabStates[tab]) !== String(page.states);
  S.tabStates[tab] = page.states;
  if (changed && tab === S.tab) fillStateOptions();
  for (const [key, name] of [["strategies", "strategy"], ["source_statuses", "source_status"]]) {
    if (!Array.isArray(page[key]) || String(S.choices[key]) === String(page[key])) continue;
    S.choices[key] = page[key];
    fillOptions(name, page[key]);
  }
}

/** Load the current tab's page and the other tabs' counts, then render; schedules the next refresh. */
export async function load({ manual = false } = {}) {
  const seq = ++S.seq;
  const tab = S.tab;
  const ts = S.tabs[tab];
  S.loading = true;
  hooks.loadingHint();
  clearTimeout(S.timer);
  try {
    const others = TABS.filter((t) => t !== tab);
    const [page, ...counts] = await Promise.all([
      api(query(tab)),
      ...others.map((t) => api(query(t, { limit: 1, offset: 0 })).catch(() => null)),
    ]);
    if (seq !== S.seq) return;
    ts.data = Array.isArray(page.tasks) ? page.tasks : [];
    ts.total = Number(page.total ?? ts.data.length);
    S.counts[tab] = ts.total;
    learnTabStates(tab, page);
    others.forEach((t, i) => { if (counts[i]) { S.counts[t] = Number(counts[i].total ?? 0); learnTabStates(t, counts[i]); } });
    if (ts.offset && ts.offset >= ts.total && ts.total > 0) {  // the page emptied under us
      ts.offset = Math.max(0, Math.floor((ts.total - 1) / ts.limit) * ts.limit);
      S.loading = false;
      return load();
    }
    // keep the selection to rows still in this tab
    const keys = new Set(ts.data.map(keyOf));
    for (const k of [...ts.selected]) if (!keys.has(k)) ts.selected.delete(k);
    hooks.connected();
    S.lastOk = new Date();
    hooks.render();
  } catch (e) {
    if (seq !== S.seq) return;
    hooks.failed(e, manual);
  } finally {
    if (seq === S.seq) {
      S.loading = false;
      hooks.loadingHint();
      schedule();
    }
  }
}
function schedule() {
  clearTimeout(S.timer);
  if (S.auto && !document.hidden) S.timer = setTimeout(() => load(), REFRESH_MS);
}
