// Time zone of the Warm Tasks page: the one chosen in Airflow's UI, for showing times and reading date filters.
//
// Airflow's React UI keeps the user's choice (user menu → Timezone) in localStorage under "timezone",
// JSON-encoded (e.g. "\"Europe/Paris\""), and falls back to the browser's own zone. The page is served
// by the same api-server (same origin), so it reads the same key and follows changes made in another tab.

const KEY = "timezone";
const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const listeners = [];
let current = null;
let parts = null;  // Intl.DateTimeFormat of the current zone, to its wall-clock parts

function valid(zone) {
  try { new Intl.DateTimeFormat("en-US", { timeZone: zone }); return true; } catch (e) { return false; }
}
function stored() {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    let z;
    try { z = JSON.parse(raw); } catch (e) { z = raw; }  // tolerate a plain string
    return typeof z === "string" && z && valid(z) ? z : null;
  } catch (e) { return null; }  // storage blocked
}
function load() {
  const z = stored() || BROWSER_ZONE;
  if (z === current) return false;
  current = z;
  parts = new Intl.DateTimeFormat("en-US", {
    timeZone: z, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  return true;
}
load();
window.addEventListener("storage", (e) => { if ((!e.key || e.key === KEY) && load()) listeners.forEach((f) => f(current)); });

/** The IANA zone times are shown in. */
export const zone = () => current;
/** Call `f(zone)` when the user picks another zone in Airflow's UI. */
export const onZoneChange = (f) => listeners.push(f);

/** Wall-clock fields of `date` in the zone: {year, month, day, hour, minute, second} as numbers. */
function wall(date) {
  const o = {};
  for (const p of parts.formatToParts(date)) if (p.type !== "literal") o[p.type] = Number(p.value);
  return o;
}
const pad = (n) => String(n).padStart(2, "0");

/** "YYYY-MM-DD HH:MM:SS" of an ISO time (or Date) in the zone. */
export function fmtZoned(v) {
  const d = v instanceof Date ? v : new Date(v);
  if (isNaN(d)) return null;
  const w = wall(d);
  return `${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
}

/** The UTC ISO time of a wall-clock "YYYY-MM-DDTHH:MM[:SS]" (a datetime-local value) read in the zone;
 * null when it is not one. A time skipped by a DST change moves forward, as Airflow's UI does. */
export function zonedToUtc(local) {
  const m = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d))?$/.exec(String(local).trim());
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x || 0));
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  const offset = (t) => { const w = wall(new Date(t)); return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - t; };
  let t = asUtc - offset(asUtc);
  t = asUtc - offset(t);  // a second pass settles a guess that crossed a DST change
  return new Date(t).toISOString();
}
