"""One run of Airflow's ``GenericTransfer`` followed by a DELETE of the source rows, in its own
process: ``python -m bench.job_gt JSON``.

JSON: ``source_conn_id``, ``destination_conn_id``, ``source_table``, ``destination_table``,
``where`` and ``mode``:
- ``default``: the operator as documented, only the required arguments (it fetches every row
  with ``get_records`` and inserts with the hook's defaults: ``commit_every=1000``);
- ``best``: the fastest settings found on this machine (see README): one ``get_records`` and
  ``insert_rows(commit_every=20000, executemany=True, fast_executemany=True)``. Pagination
  (``page_size``) bounds memory but was slower (LIMIT/OFFSET rescans), so it is not used.
Then ``DELETE FROM source WHERE <where>`` through the source hook, one statement.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from bench.child import peak_mb, report, rss_mb


def main() -> None:
    a = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING)
    from airflow.providers.common.sql.operators.generic_transfer import GenericTransfer

    kwargs = {}
    if a["mode"] == "best":
        kwargs["insert_args"] = {"commit_every": 20000, "executemany": True, "fast_executemany": True}
    elif a["mode"] == "paged":
        kwargs["insert_args"] = {"commit_every": 20000, "executemany": True, "fast_executemany": True}
        kwargs["page_size"] = 20000
    sql = f"SELECT * FROM {a['source_table']} WHERE {a['where']}"
    if a["mode"] == "paged":
        sql += " ORDER BY id"
    op = GenericTransfer(
        task_id="gt",
        sql=sql,
        source_conn_id=a["source_conn_id"],
        destination_conn_id=a["destination_conn_id"],
        destination_table=a["destination_table"],
        **kwargs,
    )
    # Open both hooks' modules before the clock starts, as a running worker would have them.
    op.source_hook, op.destination_hook  # noqa: B018
    base = rss_mb()
    t0 = time.perf_counter()
    op.execute(context={})
    copied_s = time.perf_counter() - t0
    op.source_hook.run(f"DELETE FROM {a['source_table']} WHERE {a['where']}", autocommit=True)
    seconds = time.perf_counter() - t0
    report(seconds=seconds, copy_seconds=copied_s, rss_before_mb=base, peak_self_mb=peak_mb())


if __name__ == "__main__":
    main()
