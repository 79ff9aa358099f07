"""A table job (or its rollback) in a process of its own, for the kill tests.

usage: python -m tests.engine.job_process SRC WARM STRATEGY RUN_ID run|rollback [max_rows_per_second] [where]
``WARM_ARCHIVE_KILL_AT=point:n`` makes the process kill -9 itself at a failpoint
(``WARM_ARCHIVE_PAUSE_AT`` pauses it there: failpoints.py).
"""

from __future__ import annotations

import json
import sys

from tests.dbs import Engine
from tests.engine.conftest import Pair
from warm_archive.engine import TableJob

STATUS = "WARM_STATUS "  # the line the kill tests read the retry's totals from


def main(src: str, warm: str, strategy: str, run_id: str, action: str, rate: str = "", where: str = "") -> None:
    pair = Pair(Engine(src), Engine(warm))
    extra = {"where": where} if where else {}
    params = pair.params(strategy, run_id, batch_size=400, max_rows_per_second=float(rate) if rate else None, **extra)
    with TableJob(params) as job:
        if action == "run":
            status = job.run()
            print(STATUS + json.dumps({k: status[k] for k in ("rows_copied", "rows_skipped", "rows_deleted")}))
        else:
            job.prepare(create_target=False)
            job.rollback()


if __name__ == "__main__":
    main(*sys.argv[1:])
