"""Is a run's result right? A run that fails any check fails; its timing is not counted.

- the warm table holds exactly the archived rows: count and content checksum equal the figures
  computed on the seed before any run (same checksum text in both engines);
- rows moved + rows left = N, and no row older than the cut-off is left in the source (for the
  ``copy`` strategy: the source still holds all N rows);
- a capped contender (``pt-archiver`` defaults: one row per transaction, ~500 rows/s here) is
  held to the same checks on its subset (the first ``--slow-cap`` rows to archive);
- the table job's own ``warm_status`` agrees (rows copied, rows deleted, state).
"""

from __future__ import annotations

from bench import data
from bench.config import SRC_TABLE, WARM_TABLE


def check(c, exp: dict, res: dict) -> list[str]:
    errors = []
    if res["rc"] != 0:
        errors.append(f"exit code {res['rc']}{' (timed out)' if res['timed_out'] else ''}: {res['stderr_tail'][-600:]}")
        return errors
    n, a, w = exp["rows"], exp["archived"], exp["where"]
    old_expected = 0
    if c.capped and exp.get("capped"):  # only the first rows: the rest of the old rows stay
        old_expected = a - exp["capped"]["archived"]
        exp = {**exp, **exp["capped"]}
        a = exp["archived"]
    try:
        moved, chk = data.checksum(c.dst, WARM_TABLE)
        left = data.count(c.src, SRC_TABLE)
        old_left = data.count(c.src, SRC_TABLE, w)
    except Exception as e:  # noqa: BLE001 - a missing table is a failed run
        return [f"cannot read the result: {e}"]
    if moved != a:
        errors.append(f"warm table holds {moved} rows, expected {a}")
    if chk != exp["archived_checksum"]:
        errors.append(f"warm checksum {chk} != archived rows' checksum {exp['archived_checksum']}")
    if c.deletes:
        if moved + left != n:
            errors.append(f"rows moved {moved} + rows left {left} != N {n}")
        if old_left != old_expected:
            errors.append(f"{old_left} rows older than the cut-off are in the source, expected {old_expected}")
    elif left != n:
        errors.append(f"copy must keep the source: {left} rows left, expected {n}")
    if c.family == "engine":
        st = (res.get("child") or {}).get("status") or {}
        if st.get("state") not in (None, "success"):
            errors.append(f"job state {st.get('state')}")
        if st.get("rows_copied") != a:
            errors.append(f"job says rows_copied={st.get('rows_copied')}, expected {a}")
        if c.deletes and st.get("rows_deleted") != a:
            errors.append(f"job says rows_deleted={st.get('rows_deleted')}, expected {a}")
    return errors
