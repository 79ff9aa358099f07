// Actions of the Warm Tasks page: what each button does, when it is allowed, confirming and running it.

import { api } from "./api.js";
import { confirmDialog, loginLink, toast } from "./notices.js";
import { hooks, load, S } from "./state.js";
import { archivedOf, esc, enc, keyOf, label, pick, reexecAs } from "./util.js";

const noEditDags = new Set();  // DAGs the API refused a write for (403), when it does not say can_edit
function canEdit(t) {
  const v = pick(t, "can_edit", "editable");
  if (v !== undefined) return !!v;
  const p = t.permissions;
  if (p) { const e = pick(p, "edit", "can_edit", "write"); if (e !== undefined) return !!e; }
  return noEditDags.has(t.dag_id) ? false : null; // unknown: the server decides
}

// ---------------------------------------------------------------- actions and their rules
const NO_EDIT = "Your Airflow role can view this DAG's runs but not change them (it needs edit permission on DAG runs).";
export const ACTIONS = {
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
    text: "<span class='warn-text'>This permanently deletes rows from the source (hot) tables.</span> Only rows whose identical copy is verified in the warm table are deleted; the work runs on a worker as a run of the DAG's maintenance DAG (<code>&lt;dag_id&gt;__maintenance</code>).",
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
    text: "<span class='warn-text'>Every table job of the run is undone:</span> deleted source rows are restored, the rows it inserted are removed from the warm tables and overwritten rows get their previous content back. Runs on a worker as a run of the DAG's maintenance DAG (<code>&lt;dag_id&gt;__maintenance</code>).",
    ok: (t) => `Rollback of ${t.run_id} requested.`,
  },
  resume: {
    label: "Resume", cls: "btn-yellow", scope: "both", destructive: false,
    path: (t) => `tasks/${enc(t.dag_id)}/${enc(t.run_id)}/resume`,
    // the server says why not (actions.resume); this is the fallback of an older API
    check: (t) => (t.state === "failed" ? (reexecAs(t) ? `Already re-executed as ${reexecAs(t)}.` : rollbackBlock(t.rollback_status)) : `Only failed or terminated runs can be resumed (this one is ${label(t.state)}).`),
    title: (n) => `Resume ${n} run${n > 1 ? "s" : ""} where ${n > 1 ? "they" : "it"} stopped?`,
    text: "The failed and skipped table jobs are cleared the way Airflow's <b>Clear</b> does it and run again; each continues after its last committed batch, so nothing is rolled back and no archived row is copied twice. The run moves to <b>In progress</b>.",
    ok: (t, r) => `${t.run_id} resumed${r && Array.isArray(r.cleared_task_ids) ? ` (${r.cleared_task_ids.join(", ")})` : ""}; it moves to In progress.`,
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
export const TAB_ACTIONS = { completed: ["source_status", "delete_source"], in_progress: ["terminate", "verify"], exceptional: ["rollback", "resume"] };

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
export function blockReason(name, t, s) {
  const a = ACTIONS[name];
  if (canEdit(t) === false) return NO_EDIT;
  const own = s ? pick(s, "actions") : pick(t, "actions");
  const server = own && own[name.replace(/^sub_/, "")];
  if (server && typeof server === "object" && server.allowed === false) return server.reason || "Not allowed now.";
  return a.check(t, s);
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
      if (!/cross-site/i.test(e.detail || "")) noEditDags.add(t.dag_id);
      break;
    case 404: head = "Not found: the run or task no longer exists."; break;
    case 409: head = "Refused: the task is not in a state that allows this."; break;
    case 422: head = "Refused: invalid request."; break;
    default: head = `Failed (HTTP ${e.status}).`;
  }
  toast("error", "", { html: `<b>${esc(what)}</b>${esc(head)} ${esc(e.detail)}` });
}
