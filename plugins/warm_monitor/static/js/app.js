// Entry module of the Warm Tasks page (docs/design.md §6): wires state, rendering and actions to the page's events.
//
// Plain modern JS as native ES modules, no build step, no dependencies:
//   util.js     helpers (DOM lookup, escaping, formatting)      api.js      the API client
//   state.js    tabs, search form, URL state, 3-second refresh  notices.js  toasts, banners, confirmation
//   actions.js  the buttons' rules and running them             render.js   the table, rows and details
//   morph.js    in-place DOM updates                            app.js      this file: theme, events, start
//   log.js      the Actions view (the action log)               tz.js       Airflow's UI time zone

import { runAction } from "./actions.js";
import { api } from "./api.js";
import { bindLog, fillLogForm, L, LOG_FILTERS, loadLog, renderLog } from "./log.js";
import { connectionOk, handleLoadError, toast } from "./notices.js";
import { render, renderLoadingHint } from "./render.js";
import { fillForm, hooks, load, readForm, readUrl, S, TABS, writeUrl } from "./state.js";
import { onZoneChange, zone } from "./tz.js";
import { $, enc, keyOf, pick, subsOf, toggle } from "./util.js";

hooks.render = render;
hooks.loadingHint = renderLoadingHint;
hooks.connected = connectionOk;
hooks.failed = handleLoadError;

// ---------------------------------------------------------------- theme (follow Airflow's colour mode)
function parentHtml() {
  try {
    if (window.parent !== window && window.parent.document) return window.parent.document.documentElement;
  } catch (e) { /* cross-origin */ }
  return null;
}
function currentMode() {
  const ph = parentHtml();
  if (ph) {
    if (ph.classList.contains("dark")) return "dark";
    if (ph.classList.contains("light")) return "light";
  }
  try {
    const stored = localStorage.getItem("theme") || localStorage.getItem("chakra-ui-color-mode");
    if (stored === "dark" || stored === "light") return stored;
  } catch (e) { /* storage blocked */ }
  return window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}
function applyTheme() { document.documentElement.setAttribute("data-theme", currentMode()); }
function watchTheme() {
  applyTheme();
  window.addEventListener("storage", (e) => { if (!e.key || e.key === "theme" || e.key === "chakra-ui-color-mode") applyTheme(); });
  if (window.matchMedia) matchMedia("(prefers-color-scheme: dark)").addEventListener("change", applyTheme);
  const ph = parentHtml();
  if (ph && window.MutationObserver) new MutationObserver(applyTheme).observe(ph, { attributes: true, attributeFilter: ["class", "style"] });
}

// ---------------------------------------------------------------- navigation inside Airflow's UI
/** Open an Airflow page: inside Airflow's iframe, move the parent SPA (the sandbox forbids top navigation). */
function openInAirflow(href) {
  const url = new URL(href, location.href);
  try {
    const top = window.parent;
    if (top !== window && top.location.origin === url.origin && top.history) {
      const st = top.history.state;
      const idx = st && typeof st.idx === "number" ? st.idx + 1 : 0;
      top.history.pushState({ usr: null, key: Math.random().toString(36).slice(2, 10), idx }, "", url.pathname + url.search + url.hash);
      top.dispatchEvent(new PopStateEvent("popstate", { state: top.history.state }));
      return true;
    }
  } catch (e) { /* not allowed: fall back to navigating this frame */ }
  return false;
}

// ---------------------------------------------------------------- events
function findTask(key) { return (S.tabs[S.tab].data || []).find((t) => keyOf(t) === key); }

function bind() {
  $(".tabs").addEventListener("click", (e) => {
    const b = e.target.closest(".tab");
    if (b && b.dataset.view === "actions") showLog();
    else if (b) switchTab(b.dataset.tab);
  });
  bindLog(writeLogUrl);
  $(".tabs").addEventListener("keydown", (e) => {
    if (!["ArrowLeft", "ArrowRight"].includes(e.key)) return;
    const i = TABS.indexOf(S.tab) + (e.key === "ArrowRight" ? 1 : -1);
    const t = TABS[(i + TABS.length) % TABS.length];
    switchTab(t);
    $(`#tab-${t}`).focus();
  });
  $("#search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const ts = S.tabs[S.tab];
    ts.filters = readForm();
    ts.offset = 0;
    ts.selected.clear();
    S.focus = null;
    writeUrl();
    ts.data = ts.data || null;
    load({ manual: true });
  });
  $("#reset-btn").addEventListener("click", () => {
    const ts = S.tabs[S.tab];
    ts.filters = {};
    ts.offset = 0;
    S.focus = null;
    fillForm();
    writeUrl();
    load({ manual: true });
  });
  $("#auto-refresh").addEventListener("change", (e) => {
    S.auto = e.target.checked;
    if (S.auto) load(); else clearTimeout(S.timer);
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden && S.auto) load(); });

  $("#grid-head").addEventListener("click", (e) => {
    const all = e.target.closest("[data-select-all]");
    const ts = S.tabs[S.tab];
    if (all) {
      const keys = (ts.data || []).map(keyOf);
      if (all.checked) keys.forEach((k) => ts.selected.add(k)); else keys.forEach((k) => ts.selected.delete(k));
      render();
      return;
    }
    const th = e.target.closest("th[data-sort]");
    if (th) sortBy(th.dataset.sort);
  });
  $("#grid-head").addEventListener("keydown", (e) => {
    const th = e.target.closest("th[data-sort]");
    if (th && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); sortBy(th.dataset.sort); }
  });

  $("#grid-body").addEventListener("click", (e) => {
    const ts = S.tabs[S.tab];
    const el = e.target;
    const sel = el.closest("[data-select]");
    if (sel) {
      const k = sel.getAttribute("data-select");
      if (sel.checked) ts.selected.add(k); else ts.selected.delete(k);
      render();
      return;
    }
    const ex = el.closest("[data-expand]");
    if (ex) { toggle(S.expanded, ex.getAttribute("data-expand")); render(); return; }
    const sq = el.closest("[data-sql]");
    if (sq) { toggle(S.sqlOpen, sq.getAttribute("data-sql")); render(); return; }
    const er = el.closest("[data-err]");
    if (er) { toggle(S.errOpen, er.getAttribute("data-err")); render(); return; }
    const act = el.closest("button[data-action]");
    if (act && !act.disabled) {
      const t = findTask(act.getAttribute("data-key"));
      if (!t) return;
      const taskId = act.getAttribute("data-task");
      const s = taskId ? subsOf(t).find((x) => x.task_id === taskId) : null;
      runAction(act.dataset.action, [t], s);
      return;
    }
    const localRun = el.closest("a[data-local-run]");
    if (localRun) {
      e.preventDefault();
      const row = el.closest("tr.parent");
      focusRun({ dag_id: row ? row.dataset.dag : "", run_id: localRun.dataset.localRun });
      return;
    }
    // a click on an empty part of a parent row toggles its sub-tasks
    const row = el.closest("tr.parent");
    if (row && !el.closest("a,button,input,select,label")) {
      toggle(S.expanded, row.getAttribute("data-key"));
      render();
    }
  });
  $("#actions").addEventListener("click", (e) => {
    if (e.target.closest("[data-refresh]")) { manualRefresh(e.target.closest("[data-refresh]")); return; }
    const b = e.target.closest("[data-tab-action]");
    if (!b || b.disabled) return;
    const ts = S.tabs[S.tab];
    const targets = (ts.data || []).filter((t) => ts.selected.has(keyOf(t)));
    runAction(b.dataset.tabAction, targets, null);
  });
  $("#pager").addEventListener("click", (e) => {
    const b = e.target.closest("[data-page]");
    if (!b || b.disabled) return;
    const ts = S.tabs[S.tab];
    const last = Math.max(0, Math.ceil((ts.total || 0) / ts.limit) - 1) * ts.limit;
    ts.offset = { first: 0, prev: Math.max(0, ts.offset - ts.limit), next: Math.min(last, ts.offset + ts.limit), last }[b.dataset.page];
    ts.selected.clear();
    writeUrl();
    load({ manual: true });
  });
  $("#pager").addEventListener("change", (e) => {
    const ts = S.tabs[S.tab];
    if (e.target.matches("[data-limit]")) {
      ts.limit = +e.target.value;
      ts.offset = 0;
    } else if (e.target.matches("[data-page-input]")) {
      const pages = Math.max(1, Math.ceil((ts.total || 0) / ts.limit));
      const p = Math.min(pages, Math.max(1, Math.floor(+e.target.value) || 1));
      ts.offset = (p - 1) * ts.limit;
      e.target.blur();
    } else return;
    ts.selected.clear();
    writeUrl();
    load({ manual: true });
  });
  document.addEventListener("click", (e) => {
    const a = e.target.closest("a[data-airflow-link]");
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    if (openInAirflow(a.href)) e.preventDefault();
  });
}

function sortBy(field) {
  const ts = S.tabs[S.tab];
  const cur = ts.order.replace(/^-/, "");
  ts.order = cur === field ? (ts.order.startsWith("-") ? field : `-${field}`) : `-${field}`;
  ts.offset = 0;
  writeUrl();
  load({ manual: true });
}
function switchTab(tab) {
  if (!TABS.includes(tab) || (tab === S.tab && S.view === "tasks")) return;
  S.tab = tab;
  showView("tasks");
  fillForm();
  writeUrl();
  render();
  load({ manual: true });
}
// ---------------------------------------------------------------- the Actions view (log.js)
function showView(view) {
  S.view = view;
  $("#panel").hidden = view !== "tasks";
  $("#log-panel").hidden = view !== "actions";
}
function showLog() {
  if (S.view === "actions") return;
  showView("actions");
  fillLogForm();
  writeLogUrl();
  render();
  loadLog();
}
function writeLogUrl() {
  const p = new URLSearchParams({ view: "actions" });
  for (const f of LOG_FILTERS) if (L.filters[f]) p.set(f, L.filters[f]);
  if (L.offset) p.set("offset", L.offset);
  try { history.replaceState(null, "", `${location.pathname}?${p}`); } catch (e) { /* sandbox */ }
}
function readLogUrl() {
  const p = new URLSearchParams(location.search);
  if (p.get("view") !== "actions") return false;
  for (const f of LOG_FILTERS) if (p.get(f)) L.filters[f] = p.get(f);
  L.offset = Math.max(0, +p.get("offset") || 0);
  return true;
}
function showZone() { $("#zone").textContent = `Times in ${zone()}`; }

async function manualRefresh(btn) {
  btn.classList.add("busy");
  try { await load({ manual: true }); } finally { btn.classList.remove("busy"); }
}

/** Show one run (the "Warm" tab of a run / task-instance page, or a re-execution link). */
async function focusRun(f) {
  S.focus = f;
  let tab = S.tab;
  try {
    const t = await api(`tasks/${enc(f.dag_id)}/${enc(f.run_id)}`);
    tab = pick(t, "tab") || tab;  // the API says which tab lists the run (contract.py's Tab)
  } catch (e) {
    if (e.status === 404) toast("error", `Run ${f.run_id} of ${f.dag_id} is not a warm task (or no longer exists).`);
    else if (e.status === 401) { handleLoadError(e); return; }
  }
  if (TABS.includes(tab)) S.tab = tab;
  const ts = S.tabs[S.tab];
  ts.filters = { dag_id: f.dag_id, run_id: f.run_id };
  ts.offset = 0;
  S.expanded.add(`${f.dag_id}\u241f${f.run_id}`);
  fillForm();
  writeUrl();
  render();
  await load({ manual: true });
}

// ---------------------------------------------------------------- start
function start() {
  watchTheme();
  showZone();
  onZoneChange(() => { showZone(); render(); renderLog(); });
  const logView = readLogUrl();
  if (!logView) readUrl();
  bind();
  fillForm();
  render();
  if (logView) {
    S.view = "tasks";
    showLog();
    load();  // the tabs' counts
  } else if (S.focus && !S.focus.keepTab) focusRun(S.focus);
  else {
    if (S.focus) S.expanded.add(`${S.focus.dag_id}\u241f${S.focus.run_id}`);
    load();
  }
  // durations of running tasks tick between refreshes
  setInterval(() => { if (S.tab === "in_progress" && S.tabs.in_progress.data && S.tabs.in_progress.data.length) render(); }, 1000);
}
window.warmMonitor = { state: S, log: L, reload: () => load({ manual: true }) };
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
