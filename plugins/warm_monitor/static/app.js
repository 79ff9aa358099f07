/* Warm Tasks page (docs/design.md §6). Plain modern JS, no build step, no dependencies.
 *
 * Talks to the plugin API at <mount>/api/v1 (mount = the folder above this script, e.g. /warm/),
 * same-origin with Airflow's api-server: the `_token` cookie authenticates every call, and writes
 * carry a JSON body plus the X-Requested-With header the API's CSRF check asks for.
 */
(() => {
  "use strict";

  // ---------------------------------------------------------------- locations
  const SCRIPT_URL = new URL(document.currentScript ? document.currentScript.src : "static/app.js", location.href);
  const MOUNT = new URL("../", SCRIPT_URL);               // e.g. https://host/warm/
  const API = new URL("api/v1/", MOUNT);                  // e.g. https://host/warm/api/v1/
  const AIRFLOW_ROOT = new URL("../", MOUNT);              // e.g. https://host/
  const REFRESH_MS = 3000;
  const READ_TIMEOUT_MS = 20000;
  const TABS = ["completed", "in_progress", "exceptional"];
  const TAB_LABEL = { completed: "Completed", in_progress: "In progress", exceptional: "Exceptional" };
  const STATES = {
    completed: ["success"],
    in_progress: ["queued", "running"],
    exceptional: ["failed"],
  };
  const FILTERS = ["dag_id", "run_id", "table", "strategy", "state", "source_status", "start_after", "start_before", "q"];
  const PAGE_SIZES = [25, 50, 100, 200];

  // ---------------------------------------------------------------- state
  const blankTab = () => ({ filters: {}, offset: 0, limit: 25, order: "-start", selected: new Set(), data: null, total: null });
  const S = {
    tab: "in_progress",
    tabs: Object.fromEntries(TABS.map((t) => [t, blankTab()])),
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

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const keyOf = (t) => `${t.dag_id}\u241f${t.run_id}`;
  const enc = encodeURIComponent;

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

  // ---------------------------------------------------------------- formatting
  const pad = (n) => String(n).padStart(2, "0");
  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return esc(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function fmtDuration(s) {
    if (s == null || isNaN(s)) return "";
    s = Math.max(0, Number(s));
    if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
    return h ? `${h}h ${pad(m)}m ${pad(sec)}s` : `${m}m ${pad(sec)}s`;
  }
  const nf = new Intl.NumberFormat();
  const fmtInt = (n) => (n == null || n === "" ? "" : nf.format(Number(n)));
  function durationOf(t) {
    if (t.duration_s != null) return Number(t.duration_s);
    if (t.start && !t.end && ["running", "queued"].includes(t.state)) return (Date.now() - new Date(t.start)) / 1000;
    if (t.start && t.end) return (new Date(t.end) - new Date(t.start)) / 1000;
    return null;
  }
  const label = (s) => String(s ?? "").replace(/_/g, " ");

  // ---------------------------------------------------------------- API
  class ApiError extends Error {
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
  async function api(path, { method = "GET", body } = {}) {
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

  // ---------------------------------------------------------------- data normalisation (tolerant of field names)
  const pick = (o, ...names) => { for (const n of names) if (o && o[n] !== undefined && o[n] !== null) return o[n]; return undefined; };
  const noEditDags = new Set();  // DAGs the API refused a write for (403), when it does not say can_edit
  function canEdit(t) {
    const v = pick(t, "can_edit", "editable");
    if (v !== undefined) return !!v;
    const p = t.permissions;
    if (p) { const e = pick(p, "edit", "can_edit", "write"); if (e !== undefined) return !!e; }
    return noEditDags.has(t.dag_id) ? false : null; // unknown: the server decides
  }
  function runLink(t) {
    return linkFrom(t.links, ["run", "airflow_run", "dag_run", "run_url"]) ||
      new URL(`dags/${enc(t.dag_id)}/runs/${enc(t.run_id)}`, AIRFLOW_ROOT).href;
  }
  function taskLink(t, s) {
    return linkFrom(s.links, ["task", "task_instance", "ti", "airflow_task"]) ||
      new URL(`dags/${enc(t.dag_id)}/runs/${enc(t.run_id)}/tasks/${enc(s.task_id)}`, AIRFLOW_ROOT).href;
  }
  function logLink(t, s) {
    const l = linkFrom(s.links, ["log", "logs"]) || pick(s, "log_url", "log");
    if (typeof l === "string") return new URL(l, AIRFLOW_ROOT).href;
    const u = new URL(`dags/${enc(t.dag_id)}/runs/${enc(t.run_id)}/tasks/${enc(s.task_id)}`, AIRFLOW_ROOT);
    if (s.try_number) u.searchParams.set("try_number", s.try_number);
    return u.href;
  }
  function linkFrom(links, names) {
    if (!links) return null;
    if (typeof links === "string") return new URL(links, AIRFLOW_ROOT).href;
    const v = pick(links, ...names);
    return typeof v === "string" ? new URL(v, AIRFLOW_ROOT).href : null;
  }
  const progressOf = (t) => { const p = Number(pick(t, "progress_pct", "progress") ?? 0); return isFinite(p) ? Math.max(0, Math.min(100, p)) : 0; };
  const archivedOf = (t) => pick(t, "rows_archived", "rows_copied");
  const sqlOf = (t) => (Array.isArray(t.sql) ? t.sql : []);
  const subsOf = (t) => (Array.isArray(t.subtasks) ? t.subtasks : []);
  const reexecAs = (t) => { const r = pick(t, "reexecuted_as"); return Array.isArray(r) ? r[r.length - 1] : r; };

  // ---------------------------------------------------------------- actions and their rules
  const NO_EDIT = "Your Airflow role can view this DAG's runs but not change them (it needs edit permission on DAG runs).";
  const ACTIONS = {
    source_status: {
      label: "Modify Source Data Status", cls: "btn-yellow", scope: "tab",
      path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/source-status`, body: () => ({ status: "processed" }),
      check: (t) => {
        const s = t.source_status;
        if (s === "processed") return "Source data is already processed.";
        if (s === "deleting") return "Source data is being deleted right now.";
        return null;
      },
      title: (n) => `Mark the source data of ${n} task${n > 1 ? "s" : ""} as processed?`,
      text: "Use this when the archived rows were removed from the source outside Airflow. No data is touched: only the recorded status changes to <b>processed</b>.",
      ok: (t) => `Source data of ${t.run_id} marked processed.`,
    },
    delete_source: {
      label: "Manually Delete Source Data", cls: "btn-red", scope: "tab", destructive: true,
      path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/delete-source`,
      check: (t) => {
        const s = t.source_status;
        if (s === "processed") return "Source data is already processed (deleted or marked).";
        if (s === "deleting") return "A deletion of this source data is already under way.";
        if (s === "restored") return "Source rows were restored by a rollback; nothing archived is left to delete.";
        return null;
      },
      title: (n) => `Delete the archived source rows of ${n} task${n > 1 ? "s" : ""}?`,
      text: "<span class='warn-text'>This permanently deletes rows from the source (hot) tables.</span> Only rows whose identical copy is verified in the warm table are deleted; the work runs on a worker as a <code>warm_maintenance</code> run.",
      ok: (t, r) => `Deletion of ${t.run_id}'s source data started${r && r.maintenance_run_id ? ` (maintenance run ${r.maintenance_run_id})` : ""}.`,
    },
    terminate: {
      label: "Terminate Task", cls: "btn-red", scope: "tab", destructive: true,
      path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/terminate`,
      check: (t) => (["running", "queued"].includes(t.state) ? null : `Only queued or running tasks can be terminated (this one is ${label(t.state)}).`),
      title: (n) => `Terminate ${n} running task${n > 1 ? "s" : ""}?`,
      text: "The run and its running table jobs are marked failed; each job stops after its current batch, keeping the ledger consistent. The task moves to <b>Exceptional</b>, where it can be rolled back or re-executed.",
      ok: (t) => `${t.run_id} terminated; it moves to Exceptional.`,
    },
    verify: {
      label: "Verify Task Status", cls: "", scope: "tab",
      path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/verify`,
      check: (t) => (["running", "queued"].includes(t.state) || pick(t, "reexecution_state") === "pending" ? null : `Only In progress tasks can be verified (this one is ${label(t.state)}).`),
      ok: (t, r) => verifySummary(t, r),
    },
    rollback: {
      label: "Rollback", cls: "btn-red", scope: "both", destructive: true,
      path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/rollback`,
      check: (t) => rollbackBlock(t.rollback_status),
      title: (n) => `Roll back ${n} task${n > 1 ? "s" : ""} and all their sub-tasks?`,
      text: "<span class='warn-text'>Every table job of the run is undone:</span> deleted source rows are restored, the rows it inserted are removed from the warm tables and overwritten rows get their previous content back. Runs on a worker as a <code>warm_maintenance</code> run.",
      ok: (t) => `Rollback of ${t.run_id} requested.`,
    },
    sub_rollback: {
      label: "Rollback", cls: "btn-red", scope: "sub", destructive: true,
      path: (t, s) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/subtasks/${enc(s.task_id)}/rollback`,
      check: (t, s) => {
        if (["skipped", "removed"].includes(s.state) || (!s.state && !Number(archivedOf(s)))) return "This table job did not run: nothing to roll back.";
        return rollbackBlock(s.rollback_status);
      },
      title: () => "Roll back this sub-task?",
      text: "<span class='warn-text'>The rows this table job archived are undone:</span> deleted source rows are restored and its rows are removed from the warm table.",
      ok: (t, r, s) => `Rollback of ${s.task_id} (${t.run_id}) requested.`,
    },
    sub_reexecute: {
      label: "Re-execute", cls: "", scope: "sub", destructive: false,
      path: (t, s) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/subtasks/${enc(s.task_id)}/reexecute`,
      check: (t, s) => {
        const as = reexecAs(t);
        if (as) return `Already re-executed as ${as}.`;
        if (["requested", "running"].includes(s.rollback_status) || ["requested", "running"].includes(t.rollback_status)) return "Wait for the rollback under way to finish.";
        return null;
      },
      title: () => "Re-execute from this sub-task?",
      text: "What is left of this run from this table job on is rolled back, then a new run of the same DAG starts from this job. Both runs show in <b>In progress</b> and link to each other.",
      ok: (t, r, s) => `Re-execution of ${t.run_id} from ${s.task_id} started as ${pick(r || {}, "new_run_id", "reexecuted_as") || "a new run"}.`,
    },
  };
  const TAB_ACTIONS = { completed: ["source_status", "delete_source"], in_progress: ["terminate", "verify"], exceptional: ["rollback"] };

  function rollbackBlock(rs) {
    if (rs === "requested" || rs === "running") return "A rollback is already under way.";
    if (rs === "rolled_back") return "Already rolled back.";
    return null;
  }
  function verifySummary(t, r) {
    if (!r) return `${t.run_id}: verified.`;
    const parts = [];
    const changes = pick(r, "changes", "changed");
    const findings = Array.isArray(r.findings) ? r.findings : [];
    const say = (c) => {
      if (typeof c === "string") return c;
      if (c.what === "run_state") return `run state ${c.from} → ${c.to}`;
      if (c.what === "reexecution_released") return `${c.count} re-execution(s) released`;
      return [c.task_id, c.detail || c.message || c.what || c.kind].filter(Boolean).join(": ") || JSON.stringify(c);
    };
    if (Array.isArray(changes) && changes.length) parts.push(`changed: ${changes.map(say).join("; ")}`);
    if (findings.length) parts.push(`found: ${findings.map(say).join("; ")}`);
    if (!parts.length) parts.push(`consistent, nothing to change${r.state ? ` (run ${r.state})` : ""}`);
    return `Verified ${t.run_id}: ${parts.join(". ")}.`;
  }
  /** Why `name` cannot run on this task (null: it can). */
  function blockReason(name, t, s) {
    const a = ACTIONS[name];
    if (canEdit(t) === false) return NO_EDIT;
    const own = s ? pick(s, "actions") : pick(t, "actions");
    const server = own && own[name.replace(/^sub_/, "")];
    if (server && typeof server === "object" && server.allowed === false) return server.reason || "Not allowed now.";
    return a.check(t, s);
  }

  // ---------------------------------------------------------------- URL state
  function readUrl() {
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
  function writeUrl() {
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

  // ---------------------------------------------------------------- loading
  function query(tab, extra = {}) {
    const ts = S.tabs[tab];
    const p = new URLSearchParams({ tab, limit: ts.limit, offset: ts.offset, order_by: ts.order });
    for (const f of FILTERS) {
      let v = ts.filters[f];
      if (!v) continue;
      if ((f === "start_after" || f === "start_before") && !/[zZ]|[+-]\d\d:?\d\d$/.test(v)) {
        const d = new Date(v);
        if (!isNaN(d)) v = d.toISOString();
      }
      p.set(f, v);
    }
    for (const [k, v] of Object.entries(extra)) p.set(k, v);
    return `tasks?${p}`;
  }

  async function load({ manual = false } = {}) {
    const seq = ++S.seq;
    const tab = S.tab;
    const ts = S.tabs[tab];
    S.loading = true;
    renderLoadingHint();
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
      others.forEach((t, i) => { if (counts[i]) S.counts[t] = Number(counts[i].total ?? 0); });
      if (ts.offset && ts.offset >= ts.total && ts.total > 0) {  // the page emptied under us
        ts.offset = Math.max(0, Math.floor((ts.total - 1) / ts.limit) * ts.limit);
        S.loading = false;
        return load();
      }
      // keep the selection to rows still in this tab
      const keys = new Set(ts.data.map(keyOf));
      for (const k of [...ts.selected]) if (!keys.has(k)) ts.selected.delete(k);
      connectionOk();
      S.lastOk = new Date();
      render();
    } catch (e) {
      if (seq !== S.seq) return;
      handleLoadError(e, manual);
    } finally {
      if (seq === S.seq) {
        S.loading = false;
        renderLoadingHint();
        schedule();
      }
    }
  }
  function schedule() {
    clearTimeout(S.timer);
    if (S.auto && !document.hidden) S.timer = setTimeout(() => load(), REFRESH_MS);
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
  function connectionOk() {
    if (S.offline) toast("success", "Connection to Airflow restored.", { timeout: 5000 });
    if (S.unauthorized) toast("success", "Signed in again.", { timeout: 4000 });
    S.offline = false;
    S.unauthorized = false;
    setBanner(null);
  }
  function loginLink() { return `<a href="${esc(AIRFLOW_ROOT.href)}" data-airflow-link>Log in to Airflow</a>`; }
  function handleLoadError(e, manual) {
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
    render();
  }

  // ---------------------------------------------------------------- toasts
  function toast(kind, text, { timeout, html } = {}) {
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

  // ---------------------------------------------------------------- confirm dialog
  function confirmDialog({ title, html, okLabel, destructive }) {
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

  // ---------------------------------------------------------------- running actions
  async function runAction(name, targets, sub) {
    const a = ACTIONS[name];
    const ok = [], blocked = [];
    for (const t of targets) {
      const r = blockReason(name, t, sub);
      (r ? blocked : ok).push([t, r]);
    }
    if (!ok.length) { toast("error", blocked[0][1]); return; }
    if (a.title) {
      const items = ok.map(([t]) => `<li><b>${esc(t.dag_id)}</b> · <span class="mono">${esc(t.run_id)}</span>${sub ? ` · ${esc(sub.task_id)}` : ""}</li>`).join("");
      const skipped = blocked.length ? `<p class="muted">Skipped (${blocked.length}): ${blocked.map(([t, r]) => `${esc(t.run_id)}: ${esc(r)}`).join("; ")}</p>` : "";
      const yes = await confirmDialog({
        title: a.title(ok.length), html: `<p>${a.text}</p><ul>${items}</ul>${skipped}`,
        okLabel: a.label, destructive: !!a.destructive,
      });
      if (!yes) return;
    }
    const busyKey = `${name}:${sub ? sub.task_id : ""}:${ok.map(([t]) => keyOf(t)).join(",")}`;
    S.busy.add(busyKey);
    render();
    try {
      await Promise.all(ok.map(async ([t]) => {
        try {
          const r = await api(a.path(t, sub), { method: "POST", body: a.body ? a.body(t, sub) : {} });
          toast("success", a.ok(t, r, sub));
        } catch (e) {
          actionError(a, t, sub, e);
        }
      }));
    } finally {
      S.busy.delete(busyKey);
      if (name !== "verify" || !ok.length) S.tabs[S.tab].selected.clear();
      await load();
    }
  }
  function actionError(a, t, sub, e) {
    const what = `${a.label} ${sub ? `${sub.task_id} of ` : ""}${t.run_id}`;
    let head;
    switch (e.status) {
      case 0: head = "Airflow's API server is unreachable; nothing was done."; break;
      case 401: toast("error", "", { html: `<b>${esc(what)}: not logged in.</b>${loginLink()}` }); return;
      case 403:
        head = "Refused: you lack permission for this DAG.";
        if (!/cross-site/i.test(e.detail || "")) noEditDags.add(t.dag_id);
        break;
      case 404: head = "Not found: the run or task no longer exists."; break;
      case 409: head = "Refused: the task is not in a state that allows this."; break;
      case 422: head = "Refused: invalid request."; break;
      default: head = `Failed (HTTP ${e.status}).`;
    }
    toast("error", "", { html: `<b>${esc(what)}</b>${esc(head)} ${esc(e.detail)}` });
  }

  // ---------------------------------------------------------------- rendering
  function columns(tab) {
    const cols = [
      { id: "check", cls: "check" }, { id: "expand", cls: "check" },
      { id: "run", title: "DAG / run", sort: "dag_id" },
      { id: "strategy", title: "Strategy" },
      { id: "start", title: "Start / end", sort: "start" },
      { id: "duration", title: "Duration", num: true },
      { id: "state", title: "Status", sort: "state" },
      { id: "progress", title: "Progress" },
      { id: "archived", title: "Archived", num: true },
    ];
    if (tab !== "in_progress") cols.push({ id: "source", title: "Source data" });
    if (tab === "in_progress") cols.push({ id: "source", title: "Source data", cls: "col-opt" });
    cols.push({ id: "sql", title: "Executed SQL" });
    if (tab === "exceptional") cols.push({ id: "error", title: "Error" }, { id: "rollback", title: "Rollback" }, { id: "actions", title: "Actions" });
    return cols;
  }

  function timesCell(t) {
    return `<td class="times" title="start ${esc(t.start || "–")}\nend ${esc(t.end || "–")}"><span>${fmtTime(t.start) || "–"}</span><span class="muted small">${t.end ? fmtTime(t.end) : t.start ? "running…" : ""}</span></td>`;
  }
  function badge(kind, value, extra = "") {
    if (!value) return "";
    return `<span class="badge ${kind}-${esc(value)}${extra}" data-value="${esc(value)}">${esc(label(value))}</span>`;
  }
  function progressCell(t) {
    const p = progressOf(t);
    const cls = t.state === "success" ? "success" : t.state === "failed" ? "failed" : t.state === "running" ? "running" : "";
    const planned = pick(t, "rows_planned");
    return `<div class="progress" title="${esc(fmtInt(archivedOf(t)))} of ${esc(fmtInt(planned))} rows"><div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${p.toFixed(1)}"><div class="bar-fill ${cls}" style="width:${p.toFixed(2)}%"></div></div><span class="pct">${p.toFixed(p >= 100 || p === 0 ? 0 : 1)}%</span></div>`;
  }
  function actionButton(name, t, s, small = true) {
    const a = ACTIONS[name];
    const reason = blockReason(name, t, s);
    const busy = [...S.busy].some((k) => k.startsWith(`${name}:${s ? s.task_id : ""}:`) && k.includes(keyOf(t)));
    const data = `data-action="${name}" data-key="${esc(keyOf(t))}"${s ? ` data-task="${esc(s.task_id)}"` : ""}`;
    return `<span class="btn-wrap" title="${esc(reason || a.label)}"><button type="button" class="btn ${small ? "btn-sm" : ""} ${a.cls}${busy ? " busy" : ""}" ${data}${reason || busy ? " disabled" : ""}${reason ? ` data-reason="${esc(reason)}"` : ""}>${esc(a.label)}</button></span>`;
  }
  function runCell(t, tab) {
    const as = reexecAs(t), of = pick(t, "reexecution_of");
    let note = "";
    if (as) note += `<span class="reexec">re-executed as <a href="?dag_id=${enc(t.dag_id)}&run_id=${enc(as)}" data-local-run="${esc(as)}">${esc(as)}</a></span>`;
    if (of) note += `<span class="reexec">re-execution of <a href="?dag_id=${enc(t.dag_id)}&run_id=${enc(of)}" data-local-run="${esc(of)}">${esc(of)}</a></span>`;
    return `<td class="run-cell"><a class="dag" href="${esc(runLink(t))}" data-airflow-link title="Open this run in Airflow">${esc(t.dag_id)}</a><span class="run mono muted" title="${esc(t.run_id)}">${esc(t.run_id)}</span>${note}</td>`;
  }
  function sqlButton(key, sql) {
    if (!sql.length) return `<td><span class="muted small">–</span></td>`;
    const open = S.sqlOpen.has(key);
    const n = sql.reduce((a, s) => a + (Number(s.count) || 0), 0);
    return `<td><button type="button" class="sql-toggle" data-sql="${esc(key)}" aria-expanded="${open}">${sql.length} stmt${sql.length > 1 ? "s" : ""} · ${fmtInt(n)}× ${open ? "▾" : "▸"}</button></td>`;
  }
  function errorCell(key, err, compact = false) {
    if (!err) return `<td><span class="muted small">–</span></td>`;
    const first = String(err).split("\n")[0];
    return `<td><span class="err-short${compact ? " compact" : ""}" title="${esc(first)}">${esc(first)}</span> <button type="button" class="err-toggle" data-err="${esc(key)}" aria-expanded="${S.errOpen.has(key)}">${S.errOpen.has(key) ? "Hide" : "Details"}</button></td>`;
  }
  function parentRow(t, tab, cols) {
    const k = keyOf(t);
    const ts = S.tabs[tab];
    const sel = ts.selected.has(k);
    const exp = S.expanded.has(k);
    const focus = S.focus && S.focus.dag_id === t.dag_id && S.focus.run_id === t.run_id;
    const cells = cols.map((c) => {
      switch (c.id) {
        case "check": return `<td class="check"><input type="checkbox" data-select="${esc(k)}" aria-label="Select ${esc(t.run_id)}"${sel ? " checked" : ""}></td>`;
        case "expand": return `<td class="check"><button type="button" class="expander" data-expand="${esc(k)}" aria-expanded="${exp}" aria-label="${exp ? "Collapse" : "Expand"} sub-tasks of ${esc(t.run_id)}"><span class="chev">▶</span></button></td>`;
        case "run": return runCell(t, tab);
        case "strategy": return `<td>${esc(label(t.strategy))}</td>`;
        case "start": return timesCell(t);
        case "duration": return `<td class="num">${fmtDuration(durationOf(t))}</td>`;
        case "state": return `<td>${badge("st", t.state)}</td>`;
        case "progress": return `<td>${progressCell(t)}</td>`;
        case "archived": return `<td class="num" title="planned: ${esc(fmtInt(pick(t, "rows_planned")))}">${fmtInt(archivedOf(t))}</td>`;
        case "source": return `<td${c.cls ? ` class="${c.cls}"` : ""}>${badge("src", t.source_status)}</td>`;
        case "sql": return sqlButton(k, sqlOf(t));
        case "error": return errorCell(k, t.error);
        case "rollback": return `<td>${badge("rb", t.rollback_status || "none")}</td>`;
        case "actions": return `<td><div class="row-actions">${actionButton("rollback", t, null)}</div></td>`;
        default: return "<td></td>";
      }
    }).join("");
    return `<tr class="parent${sel ? " selected" : ""}${focus ? " focus" : ""}" data-key="${esc(k)}" data-dag="${esc(t.dag_id)}" data-run="${esc(t.run_id)}" data-state="${esc(t.state)}">${cells}</tr>`;
  }
  function sqlList(sql) {
    return `<ul class="sql-list">${sql.map((s) => `<li><code>${esc(s.statement)}</code><span class="meta">${fmtInt(s.count)}× · ${Number(s.seconds || 0).toFixed(3)}s</span></li>`).join("")}</ul>`;
  }
  function subRows(t, tab) {
    const subs = subsOf(t);
    const k = keyOf(t);
    if (!subs.length) return `<p class="muted small">No table job has started in this run yet.</p>`;
    const exc = tab === "exceptional";
    const head = `<tr><th>Sub-task</th><th>Table → target</th><th>Start / end</th><th class="num">Duration</th><th>Status</th><th>Try</th><th>Progress</th><th class="num">Archived</th><th>Source data</th><th>Executed SQL</th>${exc ? "<th>Error</th><th>Rollback · actions</th>" : ""}<th>Airflow</th></tr>`;
    const rows = subs.map((s) => {
      const sk = `${k}\u241f${s.task_id}`;
      const sql = sqlOf(s);
      const focus = S.focus && S.focus.task_id === s.task_id && S.focus.run_id === t.run_id;
      let r = `<tr class="sub${focus ? " sub-focus" : ""}" data-key="${esc(sk)}" data-task="${esc(s.task_id)}" data-state="${esc(s.state || "")}">` +
        `<td><b>${esc(s.task_id)}</b></td>` +
        `<td class="tables"><span class="mono small">${esc(s.table || "")}</span><span class="mono small muted">→ ${esc(s.target || "")}</span></td>` +
        timesCell(s) +
        `<td class="num">${fmtDuration(durationOf(s))}</td>` +
        `<td>${s.state ? badge("st", s.state) : '<span class="muted small">not started</span>'}${s.stale ? ' <span class="badge st-up_for_retry plain" title="No progress report for a while: the job may be a zombie. Use Verify Task Status.">stale</span>' : ""}</td>` +
        `<td class="num">${esc(s.try_number ?? "")}</td>` +
        `<td>${progressCell(s)}</td>` +
        `<td class="num">${fmtInt(archivedOf(s))}</td>` +
        `<td>${badge("src", s.source_status)}</td>` +
        sqlButton(sk, sql) +
        (exc ? errorCell(sk, s.error, true) + `<td><div class="row-actions">${s.rollback_status && s.rollback_status !== "none" ? badge("rb", s.rollback_status) : ""}${actionButton("sub_rollback", t, s)}${actionButton("sub_reexecute", t, s)}</div></td>` : "") +
        `<td><span class="link-row"><a href="${esc(taskLink(t, s))}" data-airflow-link>Task</a><a href="${esc(logLink(t, s))}" data-airflow-link>Log</a></span></td></tr>`;
      const span = exc ? 14 : 12;
      if (S.sqlOpen.has(sk) && sql.length) r += `<tr class="sub-extra" data-key="${esc(sk)}\u241fsql"><td colspan="${span}">${sqlList(sql)}</td></tr>`;
      if (S.errOpen.has(sk) && s.error) r += `<tr class="sub-extra" data-key="${esc(sk)}\u241ferr"><td colspan="${span}"><pre class="error-box">${esc(s.error)}</pre></td></tr>`;
      return r;
    }).join("");
    return `<table class="subgrid"><thead>${head}</thead><tbody>${rows}</tbody></table>`;
  }
  function detailRow(t, tab, ncols) {
    const k = keyOf(t);
    const parts = [];
    if (S.expanded.has(k)) {
      const kv = [
        ["Rows planned", fmtInt(pick(t, "rows_planned"))],
        ["Rows archived", fmtInt(archivedOf(t))],
        ["Rollback", label(t.rollback_status || "none")],
      ];
      if (pick(t, "reexecution_of")) kv.push(["Re-execution of", t.reexecution_of]);
      if (reexecAs(t)) kv.push(["Re-executed as", reexecAs(t)]);
      parts.push(`<div class="kv">${kv.map(([a, b]) => `<span>${esc(a)}: <b>${esc(b)}</b></span>`).join("")}<span><a href="${esc(runLink(t))}" data-airflow-link>Open run in Airflow ↗</a></span></div>`);
      parts.push(subRows(t, tab));
    }
    if (S.sqlOpen.has(k) && sqlOf(t).length) parts.push(`<div class="detail-section"><h3>Executed SQL</h3>${sqlList(sqlOf(t))}</div>`);
    if (S.errOpen.has(k) && t.error) parts.push(`<div class="detail-section"><h3>Error</h3><pre class="error-box">${esc(t.error)}</pre></div>`);
    if (!parts.length) return "";
    return `<tr class="detail" data-key="${esc(k)}\u241fdetail"><td colspan="${ncols}"><div class="detail-inner">${parts.join("")}</div></td></tr>`;
  }

  function renderHead(cols) {
    const ts = S.tabs[S.tab];
    const desc = ts.order.startsWith("-");
    const field = ts.order.replace(/^-/, "");
    const visible = (ts.data || []).map(keyOf);
    const all = visible.length && visible.every((k) => ts.selected.has(k));
    return `<tr>${cols.map((c) => {
      if (c.id === "check") return `<th class="check"><input type="checkbox" data-select-all aria-label="Select all on this page"${all ? " checked" : ""}></th>`;
      if (c.id === "expand") return `<th class="check"></th>`;
      const sorted = c.sort && c.sort === field;
      const cls = [c.cls, c.num ? "num" : "", c.sort ? "sortable" : ""].filter(Boolean).join(" ");
      const aria = c.sort ? ` aria-sort="${sorted ? (desc ? "descending" : "ascending") : "none"}" data-sort="${c.sort}" tabindex="0"` : "";
      return `<th class="${cls}"${aria}>${esc(c.title)}${c.sort ? ` <span class="sort">${sorted ? (desc ? "▼" : "▲") : ""}</span>` : ""}</th>`;
    }).join("")}</tr>`;
  }

  function renderActions() {
    const ts = S.tabs[S.tab];
    const selected = (ts.data || []).filter((t) => ts.selected.has(keyOf(t)));
    const html = TAB_ACTIONS[S.tab].map((name) => {
      const a = ACTIONS[name];
      let reason = null;
      if (!selected.length) reason = "Select one or more tasks first.";
      else {
        const reasons = selected.map((t) => blockReason(name, t, null));
        if (reasons.every(Boolean)) reason = selected.length === 1 ? reasons[0] : `None of the selected tasks allows this: ${reasons[0]}`;
      }
      const busy = [...S.busy].some((k) => k.startsWith(`${name}::`));
      return `<span class="btn-wrap" title="${esc(reason || a.label)}"><button type="button" class="btn ${a.cls}${busy ? " busy" : ""}" data-tab-action="${name}"${reason || busy ? " disabled" : ""}${reason ? ` data-reason="${esc(reason)}"` : ""}>${esc(a.label)}</button></span>`;
    }).join("") + `<button type="button" class="btn" data-refresh title="Reload progress and statuses now">↻ Refresh</button>`;
    return html;
  }

  function render() {
    const tab = S.tab;
    const ts = S.tabs[tab];
    for (const b of $$(".tab")) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
    for (const c of $$("[data-count]")) {
      const n = S.counts[c.dataset.count];
      c.textContent = n == null ? "–" : fmtInt(n);
    }
    $("#panel").setAttribute("aria-labelledby", `tab-${tab}`);
    $("#panel").dataset.tab = tab;
    const cols = columns(tab);
    morphInto($("#grid-head"), renderHead(cols));
    morphInto($("#actions"), renderActions());
    const data = ts.data;
    let body = "";
    if (data === null) body = `<tr class="loading-row" data-key="loading"><td colspan="${cols.length}">Loading…</td></tr>`;
    else for (const t of data) body += parentRow(t, tab, cols) + detailRow(t, tab, cols.length);
    morphInto($("#grid-body"), body);
    const empty = $("#empty");
    const filtered = FILTERS.some((f) => ts.filters[f]);
    empty.hidden = !(data && !data.length);
    empty.textContent = filtered ? `No ${TAB_LABEL[tab].toLowerCase()} tasks match this search.` : `No ${TAB_LABEL[tab].toLowerCase()} tasks.`;
    const n = ts.selected.size;
    $("#selection-info").textContent = n ? `${n} selected` : "";
    renderPager();
    renderLoadingHint();
  }
  function renderLoadingHint() {
    const el = $("#last-updated");
    el.textContent = S.lastOk ? `Updated ${fmtTime(S.lastOk).slice(11)}` : "";
    el.classList.toggle("loading", S.loading);
  }
  function renderPager() {
    const ts = S.tabs[S.tab];
    const total = ts.total ?? 0;
    const pages = Math.max(1, Math.ceil(total / ts.limit));
    const page = Math.floor(ts.offset / ts.limit) + 1;
    const from = total ? ts.offset + 1 : 0, to = Math.min(total, ts.offset + ts.limit);
    const html = `<span class="range" data-range>${fmtInt(from)}–${fmtInt(to)} of ${fmtInt(total)}</span>
      <span class="pages">
        <label class="muted">Rows <select data-limit aria-label="Rows per page">${PAGE_SIZES.map((n) => `<option value="${n}"${n === ts.limit ? " selected" : ""}>${n}</option>`).join("")}</select></label>
        <button type="button" class="btn btn-sm" data-page="first" aria-label="First page"${page <= 1 ? " disabled" : ""}>«</button>
        <button type="button" class="btn btn-sm" data-page="prev" aria-label="Previous page"${page <= 1 ? " disabled" : ""}>‹</button>
        <span>Page <input type="number" min="1" max="${pages}" value="${page}" data-page-input aria-label="Page number"> of <span data-pages>${fmtInt(pages)}</span></span>
        <button type="button" class="btn btn-sm" data-page="next" aria-label="Next page"${page >= pages ? " disabled" : ""}>›</button>
        <button type="button" class="btn btn-sm" data-page="last" aria-label="Last page"${page >= pages ? " disabled" : ""}>»</button>
      </span>`;
    const pager = $("#pager");
    const input = pager.querySelector("[data-page-input]");
    if (input && document.activeElement === input) {  // don't fight the user typing a page number
      pager.querySelector("[data-range]").textContent = `${fmtInt(from)}–${fmtInt(to)} of ${fmtInt(total)}`;
      return;
    }
    morphInto(pager, html);
  }

  // ---------------------------------------------------------------- minimal DOM morphing (keeps focus, open rows, bar animations)
  const nodeKey = (n) => (n.nodeType === 1 ? n.getAttribute("data-key") : null);
  function morphInto(container, html) {
    const tpl = document.createElement(container.tagName === "TBODY" || container.tagName === "THEAD" ? "table" : "div");
    if (container.tagName === "TBODY" || container.tagName === "THEAD") {
      tpl.innerHTML = `<${container.tagName.toLowerCase()}>${html}</${container.tagName.toLowerCase()}>`;
      morphChildren(container, tpl.firstElementChild);
    } else {
      tpl.innerHTML = html;
      morphChildren(container, tpl);
    }
  }
  function morphNode(from, to) {
    if (from.nodeType !== to.nodeType || from.nodeName !== to.nodeName || nodeKey(from) !== nodeKey(to)) { from.replaceWith(to); return; }
    if (from.nodeType !== 1) { if (from.nodeValue !== to.nodeValue) from.nodeValue = to.nodeValue; return; }
    for (const a of Array.from(from.attributes)) if (!to.hasAttribute(a.name)) from.removeAttribute(a.name);
    for (const a of Array.from(to.attributes)) if (from.getAttribute(a.name) !== a.value) from.setAttribute(a.name, a.value);
    if (from.nodeName === "INPUT") {
      if (from.type === "checkbox") from.checked = to.hasAttribute("checked");
      else if (document.activeElement !== from && from.value !== to.getAttribute("value")) from.value = to.getAttribute("value") ?? "";
    }
    if (from.nodeName === "BUTTON") from.disabled = to.hasAttribute("disabled");
    if (from.nodeName === "SELECT") { morphChildren(from, to); const sel = to.querySelector("option[selected]"); if (sel) from.value = sel.value; return; }
    morphChildren(from, to);
  }
  function morphChildren(from, to) {
    const keyed = new Map();
    for (const n of Array.from(from.childNodes)) { const k = nodeKey(n); if (k) keyed.set(k, n); }
    const news = Array.from(to.childNodes);
    let i = 0;
    for (const nk of news) {
      const k = nodeKey(nk);
      const cur = from.childNodes[i] || null;
      const match = k ? keyed.get(k) : null;
      if (match) {
        keyed.delete(k);
        if (match !== cur) from.insertBefore(match, cur);
        morphNode(match, nk);
      } else if (!k && cur && !nodeKey(cur) && cur.nodeName === nk.nodeName) {
        morphNode(cur, nk);
      } else {
        from.insertBefore(nk, cur);
      }
      i++;
    }
    while (from.childNodes.length > i) from.removeChild(from.lastChild);
  }

  // ---------------------------------------------------------------- search form
  const STATE_OPTIONS = {
    completed: ["success"],
    in_progress: ["queued", "running", "failed"],
    exceptional: ["failed"],
  };
  function fillForm() {
    const ts = S.tabs[S.tab];
    const f = $("#search-form");
    const st = f.elements.state;
    st.innerHTML = `<option value="">Any</option>` + STATE_OPTIONS[S.tab].map((s) => `<option value="${s}">${label(s)}</option>`).join("");
    for (const name of FILTERS) if (f.elements[name]) f.elements[name].value = ts.filters[name] || "";
  }
  function readForm() {
    const f = $("#search-form");
    const out = {};
    for (const name of FILTERS) { const v = (f.elements[name].value || "").trim(); if (v) out[name] = v; }
    return out;
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
      if (b) switchTab(b.dataset.tab);
    });
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
  function toggle(set, k) { if (set.has(k)) set.delete(k); else set.add(k); }
  function sortBy(field) {
    const ts = S.tabs[S.tab];
    const cur = ts.order.replace(/^-/, "");
    ts.order = cur === field ? (ts.order.startsWith("-") ? field : `-${field}`) : `-${field}`;
    ts.offset = 0;
    writeUrl();
    load({ manual: true });
  }
  function switchTab(tab) {
    if (!TABS.includes(tab) || tab === S.tab) return;
    S.tab = tab;
    fillForm();
    writeUrl();
    render();
    load({ manual: true });
  }
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
      tab = pick(t, "tab") || tabOf(t);
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
  function tabOf(t) {
    if (["queued", "running"].includes(t.state)) return "in_progress";
    if (t.state === "success") return "completed";
    return "exceptional";
  }

  // ---------------------------------------------------------------- start
  function start() {
    watchTheme();
    readUrl();
    bind();
    fillForm();
    render();
    if (S.focus && !S.focus.keepTab) focusRun(S.focus);
    else {
      if (S.focus) S.expanded.add(`${S.focus.dag_id}\u241f${S.focus.run_id}`);
      load();
    }
    // durations of running tasks tick between refreshes
    setInterval(() => { if (S.tab === "in_progress" && S.tabs.in_progress.data && S.tabs.in_progress.data.length) render(); }, 1000);
  }
  window.warmMonitor = { state: S, reload: () => load({ manual: true }) };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
