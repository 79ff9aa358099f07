"""One run of this project's table job, in its own process: ``python -m bench.job_engine JSON``.

JSON holds ``JobParams`` fields. Prints the job's ``warm_status`` (minus the SQL list, kept
apart), the seconds ``run()`` took and the RSS before/after, for the driver to check and record.
"""

from __future__ import annotations

import json
import logging
import sys
import time

from bench.child import peak_mb, report, rss_mb


def main() -> None:
    args = json.loads(sys.argv[1])
    import os

    if os.environ.get("BENCH_ENGINE_PATH"):  # profile a patched private copy of the engine
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__ + repr(f)]
        sys.path.insert(0, os.environ["BENCH_ENGINE_PATH"])
    logging.basicConfig(level=logging.WARNING)
    from warm_archive.engine import JobParams, TableJob

    if "limits" in args:  # the load limits and pacing (bench/live.py)
        from warm_archive.replicas import LoadLimits

        args["limits"] = LoadLimits(**args["limits"])
    p = JobParams(**args)
    # Warm-up, the same as GenericTransfer's (bench/job_gt.py builds both hooks before its clock):
    # import the drivers and resolve both connections' hooks (Airflow's provider discovery).
    import psycopg  # noqa: F401,E401
    from airflow.sdk import BaseHook

    from warm_archive.connections import connect  # noqa: F401

    for conn_id in {p.source_conn_id, p.target_conn_id}:
        BaseHook.get_connection(conn_id).get_hook()

    base = rss_mb()
    t0 = time.perf_counter()
    with TableJob(p) as job:
        status = job.run()
    seconds = time.perf_counter() - t0
    sql = status.pop("sql", [])
    report(seconds=seconds, rss_before_mb=base, peak_self_mb=peak_mb(), status=status, sql=sql)


if __name__ == "__main__":
    main()
