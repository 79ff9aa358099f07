// Rendering of the Warm Tasks page: the tab's table, its rows and sub-tasks, SQL and error details, the pager.

import { ACTIONS, blockReason, TAB_ACTIONS } from "./actions.js";
import { AIRFLOW_ROOT } from "./api.js";
import { morphInto } from "./morph.js";
import { FILTERS, PAGE_SIZES, S, TAB_LABEL } from "./state.js";
import { $, $$, archivedOf, durationOf, enc, esc, fmtDuration, fmtInt, fmtTime, keyOf, label, pick, progressOf, reexecAs, sqlOf, subsOf } from "./util.js";

// ---------------------------------------------------------------- links to Airflow's pages
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

// ---------------------------------------------------------------- the table
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
  if (tab === "exceptional") cols.push({ id: "error", title: "Error" }, { id: "rollback", title: "Rollback" }, { id: "actions", title: "Actions", cls: "sticky-end" });
  return cols;
}

function timesCell(t) {
  const first = t.first_start || t.start; // a resumed run keeps its first start; Airflow's restarts
  const again = t.start && first && t.start !== first ? `\nAirflow's current try started ${t.start}` : "";
  return `<td class="times" title="first start ${esc(first || "–")}\nend ${esc(t.end || "–")}${esc(again)}"><span>${fmtTime(first) || "–"}</span><span class="muted small">${t.end ? fmtTime(t.end) : first ? "running…" : ""}</span></td>`;
}
function badge(kind, value, extra = "") {
  if (!value) return "";
  return `<span class="badge ${kind}-${esc(value)}${extra}" data-value="${esc(value)}">${esc(label(value))}</span>`;
}
// A running job: its rate over the last 10 s (0 while it pauses). Otherwise: the rows it moved over
// its active time, every try included (a resumed job keeps the rows its earlier tries moved).
const rateOf = (s) => (s.running ? s.rows_per_second : s.avg_rows_per_second ?? s.rows_per_second);
const fmtRate = (r) => (r == null ? "" : fmtInt(Math.round(r)));
const rateTitle = (s) => (s.running ? "rows a second over the last 10 s" : "rows moved over its active time (every try)") +
  (s.avg_rows_per_second != null && s.running ? `; ${fmtRate(s.avg_rows_per_second)} over its active time` : "");
function progressCell(t) {
  const p = progressOf(t);
  const planned = pick(t, "rows_planned");
  const pending = Array.isArray(t.plans_pending) ? t.plans_pending : [];
  const note = pending.length ? `<span class="muted small" data-chip="plans-pending" title="These jobs count their rows when they start; the percentage covers the others">${esc(pending.length)} job${pending.length > 1 ? "s" : ""} not planned yet: ${esc(pending.join(", "))}</span>` : "";
  const about = t.rows_planned_estimated ? "≈" : ""; // a job walking its key estimates its rows
  return `<div class="progress" title="${esc(fmtInt(archivedOf(t)))} of ${about}${esc(fmtInt(planned))} rows${pending.length ? " planned so far" : ""}"><div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow="${p.toFixed(1)}"><div class="bar-fill" data-state="${esc(t.state || "")}" style="width:${p.toFixed(2)}%"></div></div><span class="pct">${p.toFixed(p >= 100 || p === 0 ? 0 : 1)}%</span></div>${note}`;
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
  const dry = t.dry_run ? `<span class="badge plain dry-run" data-badge="dry-run" title="A dry run: it counted the rows and recorded the SQL the real run would execute; it moved nothing">dry run</span>` : "";
  return `<td class="run-cell"><a class="dag" href="${esc(runLink(t))}" data-airflow-link title="Open this run in Airflow">${esc(t.dag_id)}</a><span class="run mono muted" title="${esc(t.run_id)}">${esc(t.run_id)}</span>${dry}${note}</td>`;
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
  return `<td><div class="err-cell"><span class="err-short${compact ? " compact" : ""}" title="${esc(first)}">${esc(first)}</span><button type="button" class="err-toggle" data-err="${esc(key)}" aria-expanded="${S.errOpen.has(key)}">${S.errOpen.has(key) ? "Hide" : "Details"}</button></div></td>`;
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
      case "state": return `<td>${badge("st", t.state)}${subsOf(t).some(isWaiting) ? ' <span class="chip wait" data-chip="run-wait" title="A table job of this run is paused: expand the run to see why">waiting</span>' : ""}</td>`;
      case "progress": return `<td>${progressCell(t)}</td>`;
      case "archived": return `<td class="num" title="planned: ${esc(fmtInt(pick(t, "rows_planned")))}">${fmtInt(archivedOf(t))}</td>`;
      case "source": return `<td${c.cls ? ` class="${c.cls}"` : ""}>${badge("src", t.source_status)}</td>`;
      case "sql": return sqlButton(k, sqlOf(t));
      case "error": return errorCell(k, t.error);
      case "rollback": return `<td>${badge("rb", t.rollback_status)}</td>`;
      case "actions": return `<td class="sticky-end"><div class="row-actions">${actionButton("rollback", t, null)}${actionButton("resume", t, null)}</div></td>`;
      default: return "<td></td>";
    }
  }).join("");
  return `<tr class="parent${sel ? " selected" : ""}${focus ? " focus" : ""}" data-key="${esc(k)}" data-dag="${esc(t.dag_id)}" data-run="${esc(t.run_id)}" data-state="${esc(t.state)}">${cells}</tr>`;
}
// ---------------------------------------------------------------- the job's phase, pace and pauses
/** A sub-task whose job is paused ("waiting for replica", "waiting for load"), as the server says. */
const isWaiting = (s) => !!s.waiting;
const secs = (v) => (v == null ? "unknown" : `${Number(v) < 10 ? Number(v).toFixed(1) : Math.round(Number(v))} s`);
/** "db_replica 42 s, other unknown": the lag of each replica the job watches (null: it cannot tell). */
function lagText(lags) {
  return Object.entries(lags || {}).map(([id, v]) => `${id} ${secs(v)}`).join(", ");
}
function phaseCell(s) {
  const out = [];
  const why = Array.isArray(s.waiting_because) ? s.waiting_because : [];
  if (isWaiting(s)) {
    const lag = /replica/.test(s.phase) && s.replica_lag_s ? `: ${lagText(s.replica_lag_s)}` : "";
    const load = /load/.test(s.phase) && s.threads_running != null ? `: ${fmtInt(s.threads_running)} statements running` : "";
    out.push(`<span class="chip wait" data-chip="wait" title="${esc(why.join("\n") || s.phase)}">${esc(s.phase)}${esc(lag || load)}</span>`);
    if (why.length) out.push(`<span class="why">${why.map(esc).join("<br>")}</span>`);
  } else if (s.phase) {
    out.push(`<span data-chip="phase">${esc(label(s.phase))}</span>`);
    if (s.replica_lag_s && Object.keys(s.replica_lag_s).length) out.push(`<span class="chip" data-chip="lag" title="Replica lag the job last saw">lag ${esc(lagText(s.replica_lag_s))}</span>`);
  }
  if (s.paused_s) out.push(`<span class="muted small" data-chip="paused" title="waited for replica lag or source load">paused ${esc(fmtDuration(s.paused_s))} in all</span>`);
  if (s.throttled_s) out.push(`<span class="muted small" data-chip="throttled" title="waits of its max_rows_per_second throttle">throttled ${esc(fmtDuration(s.throttled_s))}</span>`);
  return `<td data-col="phase"><div class="phase-cell">${out.join("")}</div></td>`;
}

/** Executed statements: the run's work, then its checks apart (kind "check": inputs checked and
 * rows counted before any row moves; all of a dry run's own reads are checks). */
function sqlList(sql) {
  const li = (s) => `<li><code>${esc(s.statement)}</code><span class="meta">${fmtInt(s.count)}× · ${Number(s.seconds || 0).toFixed(3)}s</span></li>`;
  const work = sql.filter((s) => s.kind !== "check"), checks = sql.filter((s) => s.kind === "check");
  return (work.length ? `<ul class="sql-list" data-sql-kind="work">${work.map(li).join("")}</ul>` : "") +
    (checks.length ? `<p class="sql-checks-title muted small">Checks: inputs checked and rows counted before any row moves, not the run's work</p><ul class="sql-list sql-checks" data-sql-kind="check">${checks.map(li).join("")}</ul>` : "");
}
/** A dry run's planned rows already in the warm table, and what on_conflict will do with them (archived.py). */
function alreadyArchived(s) {
  if (s.already_archived == null) return "";
  const text = s.already_archived
    ? s.on_conflict_effect || `${fmtInt(s.already_archived)} of the planned rows are already in the warm table (on_conflict=${s.on_conflict})`
    : "None of the planned rows is in the warm table yet.";
  return `<p class="already-archived${s.already_archived ? " some" : ""}" data-already-archived="${esc(s.already_archived)}" data-on-conflict="${esc(s.on_conflict || "")}">${esc(text)}</p>`;
}
/** A dry run's recorded statements: what the real run would execute for its first batch (dryrun.py). */
function dryRunSql(t) {
  const jobs = subsOf(t).filter((s) => Array.isArray(s.dry_run_sql) && s.dry_run_sql.length);
  if (!jobs.length) return "";
  const item = (e) => {
    if (e.note) return `<li class="note"><span class="step">${esc(e.step || "")}</span><span>${esc(e.note)}</span></li>`;
    if (e.error) return `<li class="error"><span class="step">${esc(e.step || "")}</span><span>stops here: ${esc(e.error)}</span></li>`;
    const meta = [e.on, e.executed ? "read, ran" : "not executed", e.rows != null ? `${fmtInt(e.rows)} rows` : "", e.data || "", e.note || ""].filter(Boolean).join(" · ");
    const params = e.params ? `<code class="params">${esc(JSON.stringify(e.params))}</code>` : "";
    return `<li class="${e.executed ? "read" : "write"}"><span class="step">${esc(e.step || "")}</span><span class="stmt"><code>${esc(e.statement)}</code>${params}</span><span class="meta">${esc(meta)}</span></li>`;
  };
  return `<div class="detail-section dry-run-sql" data-dry-run-sql><h3>Dry run: what the real run would execute (first batch)</h3>` +
    jobs.map((s) => `<h4 class="mono small">${esc(s.task_id)}: ${fmtInt(s.rows_planned)} rows, keys ${esc(JSON.stringify(s.key_range))}</h4>${alreadyArchived(s)}<ul class="sql-list">${s.dry_run_sql.map(item).join("")}</ul>`).join("") +
    `</div>`;
}
function subRows(t, tab) {
  const subs = subsOf(t);
  const k = keyOf(t);
  if (!subs.length) return `<p class="muted small">No table job has started in this run yet.</p>`;
  const exc = tab === "exceptional";
  const head = `<tr><th>Sub-task</th><th>Table → target</th><th>Start / end</th><th class="num">Duration</th><th>Status</th><th>Try</th><th>Progress</th><th class="num">Archived</th><th class="num" title="Rows deleted from the source">Deleted</th><th class="num" title="Rows kept in the source because they changed after being copied">Changed</th><th class="num" title="Rows already in the warm table, skipped">Skipped</th><th class="num">Rows/s</th><th>Phase</th><th>Source data</th><th>Executed SQL</th>${exc ? "<th>Error</th><th>Rollback · actions</th>" : ""}<th>Airflow</th></tr>`;
  const rows = subs.map((s) => {
    const sk = `${k}\u241f${s.task_id}`;
    const sql = sqlOf(s);
    const focus = S.focus && S.focus.task_id === s.task_id && S.focus.run_id === t.run_id;
    const paused = isWaiting(s);
    let r = `<tr class="sub${focus ? " sub-focus" : ""}${paused ? " paused" : ""}" data-key="${esc(sk)}" data-task="${esc(s.task_id)}" data-state="${esc(s.state || "")}">` +
      `<td class="task"><b>${esc(s.task_id)}</b></td>` +
      `<td class="tables"><span class="mono small">${esc(s.table || "")}</span><span class="mono small muted">→ ${esc(s.target || "")}</span></td>` +
      timesCell(s) +
      `<td class="num">${fmtDuration(durationOf(s))}</td>` +
      `<td>${s.state ? badge("st", s.state) : '<span class="muted small">not started</span>'}${s.stale ? ' <span class="badge st-up_for_retry plain" title="No progress report for a while: the job may be a zombie. Use Verify Task Status.">stale</span>' : ""}</td>` +
      `<td class="num">${esc(s.try_number ?? "")}</td>` +
      `<td>${progressCell(s)}</td>` +
      `<td class="num">${fmtInt(archivedOf(s))}</td>` +
      `<td class="num" data-col="deleted">${fmtInt(s.rows_deleted)}</td>` +
      `<td class="num" data-col="changed">${fmtInt(s.rows_changed)}</td>` +
      `<td class="num" data-col="skipped">${fmtInt(s.rows_skipped)}</td>` +
      `<td class="num" data-col="rate" title="${rateTitle(s)}">${fmtRate(rateOf(s))}</td>` +
      phaseCell(s) +
      `<td>${badge("src", s.source_status)}</td>` +
      sqlButton(sk, sql) +
      (exc ? errorCell(sk, s.error, true) + `<td><div class="row-actions">${badge("rb", s.rollback_status)}${actionButton("sub_rollback", t, s)}${actionButton("sub_reexecute", t, s)}</div></td>` : "") +
      `<td><span class="link-row"><a href="${esc(taskLink(t, s))}" data-airflow-link>Task</a><a href="${esc(logLink(t, s))}" data-airflow-link>Log</a></span></td></tr>`;
    const span = exc ? 19 : 17;
    if (S.sqlOpen.has(sk) && sql.length) r += `<tr class="sub-extra" data-key="${esc(sk)}\u241fsql"><td colspan="${span}">${sqlList(sql)}</td></tr>`;
    if (S.errOpen.has(sk) && s.error) r += `<tr class="sub-extra" data-key="${esc(sk)}\u241ferr"><td colspan="${span}"><pre class="error-box">${esc(s.error)}</pre></td></tr>`;
    return r;
  }).join("");
  // its own scroll box: it is wider than the run's row on a narrow screen, and its scrollbar stays in sight
  return `<div class="subgrid-wrap"><table class="subgrid"><thead>${head}</thead><tbody>${rows}</tbody></table></div>`;
}
function detailRow(t, tab, ncols) {
  const k = keyOf(t);
  const parts = [];
  if (S.expanded.has(k)) {
    const kv = [
      ["Rows planned", fmtInt(pick(t, "rows_planned"))],
      ["Rows archived", fmtInt(archivedOf(t))],
      ["Rollback", label(t.rollback_status)],
    ];
    if (pick(t, "reexecution_of")) kv.push(["Re-execution of", t.reexecution_of]);
    if (reexecAs(t)) kv.push(["Re-executed as", reexecAs(t)]);
    parts.push(`<div class="kv">${kv.map(([a, b]) => `<span>${esc(a)}: <b>${esc(b)}</b></span>`).join("")}<span><a href="${esc(runLink(t))}" data-airflow-link>Open run in Airflow ↗</a></span></div>`);
    parts.push(subRows(t, tab));
    if (t.dry_run) parts.push(dryRunSql(t));
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

export function render() {
  const tab = S.tab;
  const ts = S.tabs[tab];
  for (const b of $$(".tab")) b.setAttribute("aria-selected", String(S.view === "actions" ? b.dataset.view === "actions" : b.dataset.tab === tab));
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
export function renderLoadingHint() {
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
