// Small shared helpers of the Warm Tasks page: DOM lookup, HTML escaping, formatting, tolerant field access.

import { fmtZoned } from "./tz.js";

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
export const esc = (v) => String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
export const enc = encodeURIComponent;
export const keyOf = (t) => `${t.dag_id}\u241f${t.run_id}`;
export function toggle(set, k) { if (set.has(k)) set.delete(k); else set.add(k); }

// ---------------------------------------------------------------- formatting
const pad = (n) => String(n).padStart(2, "0");
/** A time as "YYYY-MM-DD HH:MM:SS" in the zone chosen in Airflow's UI (tz.js). */
export function fmtTime(iso) {
  if (!iso) return "";
  return fmtZoned(iso) ?? esc(iso);
}
export function fmtDuration(s) {
  if (s == null || isNaN(s)) return "";
  s = Math.max(0, Number(s));
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h ? `${h}h ${pad(m)}m ${pad(sec)}s` : `${m}m ${pad(sec)}s`;
}
const nf = new Intl.NumberFormat();
export const fmtInt = (n) => (n == null || n === "" ? "" : nf.format(Number(n)));
export function durationOf(t) {
  if (t.active_s != null) return Number(t.active_s); // time its jobs ran, every try (a Resume restarts Airflow's own)
  if (t.duration_s != null) return Number(t.duration_s); // the server's, to now while it is not finished
  if (t.start && t.end) return (new Date(t.end) - new Date(t.start)) / 1000;
  return null;
}
export const label = (s) => String(s ?? "").replace(/_/g, " ");

// ---------------------------------------------------------------- data normalisation (tolerant of field names)
export const pick = (o, ...names) => { for (const n of names) if (o && o[n] !== undefined && o[n] !== null) return o[n]; return undefined; };
export const progressOf = (t) => { const p = Number(pick(t, "progress_pct", "progress") ?? 0); return isFinite(p) ? Math.max(0, Math.min(100, p)) : 0; };
export const archivedOf = (t) => pick(t, "rows_archived", "rows_copied");
export const sqlOf = (t) => (Array.isArray(t.sql) ? t.sql : []);
export const subsOf = (t) => (Array.isArray(t.subtasks) ? t.subtasks : []);
export const reexecAs = (t) => { const r = pick(t, "reexecuted_as"); return Array.isArray(r) ? r[r.length - 1] : r; };
