// Actions of the Warm Tasks page: what each button does, confirming and running it. Whether one is
// allowed, and why not, is the server's word (each run's and sub-task's "actions", policy.py): the
// page names no run state.

import { api } from "./api.js";
import { confirmDialog, loginLink, toast } from "./notices.js";
import { hooks, load, S } from "./state.js";
import { esc, enc, keyOf, pick } from "./util.js";

// ---------------------------------------------------------------- actions
// `server`: the action's name in the API's "actions" maps (a sub-task's own for scope "sub").
export const ACTIONS = {
  source_status: {
    label: "Modify Source Data Status", cls: "btn-yellow", scope: "tab",
    path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/source-status`, body: () => ({ status: "processed" }),
    title: (n) => `Mark the source data of ${n} task${n > 1 ? "s" : ""} as processed?`,
    text: "Use this when the archived rows were removed from the source outside Airflow. No data is touched: only the recorded status changes to <b>processed</b>.",
    ok: (t) => `Source data of ${t.run_id} marked processed.`,
  },
  delete_source: {
    label: "Manually Delete Source Data", cls: "btn-red", scope: "tab", destructive: true,
    path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/delete-source`,
    title: (n) => `Delete the archived source rows of ${n} task${n > 1 ? "s" : ""}?`,
    text: "<span class='warn-text'>This permanently deletes rows from the source (hot) tables.</span> Only rows whose identical copy is verified in the warm table are deleted; the work runs on a worker as a run of the DAG's maintenance DAG (<code>&lt;dag_id&gt;__maintenance</code>).",
    ok: (t, r) => `Deletion of ${t.run_id}'s source data started${r && r.maintenance_run_id ? ` (maintenance run ${r.maintenance_run_id})` : ""}.`,
  },
  terminate: {
    label: "Terminate Task", cls: "btn-red", scope: "tab", destructive: true,
    path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/terminate`,
    title: (n) => `Terminate ${n} running task${n > 1 ? "s" : ""}?`,
    text: "The run and its running table jobs are marked failed; each job stops after its current batch, keeping the ledger consistent. The task moves to <b>Exceptional</b>, where it can be rolled back or re-executed.",
    ok: (t) => `${t.run_id} terminated; it moves to Exceptional.`,
  },
  verify: {
    label: "Verify Task Status", cls: "", scope: "tab",
    path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/verify`,
    ok: (t, r) => verifySummary(t, r),
  },
  rollback: {
    label: "Rollback", cls: "btn-red", scope: "both", destructive: true,
    path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/rollback`,
    title: (n) => `Roll back ${n} task${n > 1 ? "s" : ""} and all their sub-tasks?`,
    text: "<span class='warn-text'>Every table job of the run is undone:</span> deleted source rows are restored, the rows it inserted are removed from the warm tables and overwritten rows get their previous content back. Runs on a worker as a run of the DAG's maintenance DAG (<code>&lt;dag_id&gt;__maintenance</code>).",
    ok: (t) => `Rollback of ${t.run_id} requested.`,
  },
  resume: {
    label: "Resume", cls: "btn-yellow", scope: "both", destructive: false,
    path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/resume`,
    title: (n) => `Resume ${n} run${n > 1 ? "s" : ""} where ${n > 1 ? "they" : "it"} stopped?`,
    text: "The failed and skipped table jobs are cleared the way Airflow's <b>Clear</b> does it and run again; each continues after its last committed batch, so nothing is rolled back and no archived row is copied twice. The run moves to <b>In progress</b>.",
    ok: (t, r) => `${t.run_id} resumed${r && Array.isArray(r.cleared_task_ids) ? ` (${r.cleared_task_ids.join(", ")})` : ""}; it moves to In progress.`,
  },
  sub_rollback: {
    label: "Rollback", cls: "btn-red", scope: "sub", destructive: true, server: "rollback",
    path: (t, s) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/subtasks/${enc(s.task_id)}/rollback`,
    title: () => "Roll back this sub-task?",
    text: "<span class='warn-text'>The rows this table job archived are undone:</span> deleted source rows are restored and its rows are removed from the warm table.",
    ok: (t, r, s) => `Rollback of ${s.task_id} (${t.run_id}) requested.`,
  },
  sub_reexecute: {
    label: "Re-execute", cls: "", scope: "sub", destructive: false, server: "reexecute",
    path: (t, s) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/subtasks/${enc(s.task_id)}/reexecute`,
    title: () => "Re-execute from this sub-task?",
    text: "What is left of this run from this table job on is rolled back, then a new run of the same DAG starts from this job. Both runs show in <b>In progress</b> and link to each other.",
    ok: (t, r, s) => `Re-execution of ${t.run_id} from ${s.task_id} started as ${pick(r || {}, "new_run_id", "reexecuted_as") || "a new run"}.`,
  },
};
export const TAB_ACTIONS = { completed: ["source_status", "delete_source"], in_progress: ["terminate", "verify"], exceptional: ["rollback", "resume"] };

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
/** Why `name` cannot run on this task or sub-task now (null: it can), as the server said. An
 * action the server said nothing about is left to it: a click gets its answer (409 with the reason). */
export function blockReason(name, t, s) {
  const said = (s || t).actions;
  const state = said && said[ACTIONS[name].server || name];
  return state && state.allowed === false ? state.reason || "Not allowed now." : null;
}

// ---------------------------------------------------------------- running actions
export async function runAction(name, targets, sub) {
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
  hooks.render();
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
      break;
    case 404: head = "Not found: the run or task no longer exists."; break;
    case 409: head = "Refused: the task is not in a state that allows this."; break;
    case 422: head = "Refused: invalid request."; break;
    default: head = `Failed (HTTP ${e.status}).`;
  }
  toast("error", "", { html: `<b>${esc(what)}</b>${esc(head)} ${esc(e.detail)}` });
}
