"""One run of this project's table job, in its own process: ``python -m bench.job_engine JSON``.

JSON holds ``JobParams`` fields, and for the cross-engine limit ``then_delete``: the ``where`` of
one unverified ``DELETE`` of the source rows once the job (strategy ``copy``) is done. Prints the
job's ``warm_status`` (minus the SQL list, kept apart), the seconds ``run()`` (and the DELETE)
took and the RSS before/after, for the driver to check and record.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from bench.child import peak_mb, report, rss_mb


def main() -> None:
    args = json.loads(sys.argv[1])
    then_delete = args.pop("then_delete", None)
    import os

    if os.environ.get("BENCH_ENGINE_PATH"):  # profile a patched private copy of the engine
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__ + repr(f)]
        sys.path.insert(0, os.environ["BENCH_ENGINE_PATH"])
    logging.basicConfig(level=logging.WARNING)
    from warm_archive.engine import JobParams, TableJob

    p = JobParams(**args)
    # Warm-up, the same as GenericTransfer's (bench/job_gt.py builds both hooks before its clock):
    # import the drivers and resolve both connections' hooks (Airflow's provider discovery).
    import psycopg  # noqa: F401,E401
    from airflow.sdk import BaseHook

    from warm_archive.connections import connect  # noqa: F401

    hooks = {conn_id: BaseHook.get_connection(conn_id).get_hook() for conn_id in {p.source_conn_id, p.target_conn_id}}

    base = rss_mb()
    t0 = time.perf_counter()
    with TableJob(p) as job:
        status = job.run()
    if then_delete:  # the cross-engine limit: the copy above, then GenericTransfer's own DELETE
        conn = hooks[p.source_conn_id].get_conn()
        conn.cursor().execute(f"DELETE FROM {p.source_table} WHERE {then_delete}")
        conn.commit()
        conn.close()
    seconds = time.perf_counter() - t0
    sql = status.pop("sql", [])
    report(seconds=seconds, rss_before_mb=base, peak_self_mb=peak_mb(), status=status, sql=sql)


if __name__ == "__main__":
    main()
