"""The worker-to-page contract, on the worker's side: the ``warm_status`` a job's Progress writes is
exactly contract.py's WarmStatus (every key declared, every value of its type), and a status that
does not fit (an older job, a hand-written XCom) still reads, without the fields that do not fit."""

from __future__ import annotations

import json

from warm_archive.contract import SourceStatus, Strategy, WarmStatus
from warm_archive.progress import Progress
from warm_archive.sqlstats import SqlStats


def _progress(strategy: str = "move", dry_run: bool = False) -> Progress:
    stats = SqlStats()
    stats.add("SELECT 1", 0.25, count=3)
    p = Progress(strategy, "src.orders", "warm.orders", dry_run, stats)
    p.planned(1200)
    p.add(rows_copied=500, rows_deleted=500, batches=1)
    p.update(phase="copy", key_range=[[1], [1200]], replica_lag_s={"replica": 1.5, "other": None})
    return p


def test_what_a_job_writes_is_the_contract_status():
    written = json.loads(json.dumps(_progress().as_dict()))  # what the XCom holds: JSON
    assert set(written) == set(WarmStatus.model_fields), set(written) ^ set(WarmStatus.model_fields)
    status = WarmStatus.model_validate(written)
    assert status.strategy == Strategy.MOVE and status.source_status == SourceStatus.PENDING
    assert (status.rows_planned, status.rows_copied, status.rows_deleted, status.batches) == (1200, 500, 500, 1)
    assert status.replica_lag_s == {"replica": 1.5, "other": None} and status.key_range == [[1], [1200]]
    assert [(s.statement, s.count, s.seconds) for s in status.sql] == [("SELECT 1", 3, 0.25)]
    assert WarmStatus.model_validate(_progress("copy", dry_run=True).as_dict()).source_status == SourceStatus.RETAINED


def test_a_status_that_does_not_fit_reads_without_the_misfits():
    assert WarmStatus.read(None) is None and WarmStatus.read("not a status") is None
    old = WarmStatus.read({"table": "t", "rows_copied": 7})  # a job older than most fields
    assert old is not None and (old.table, old.rows_copied, old.rows_planned, old.sql) == ("t", 7, 0, [])
    odd = WarmStatus.read({"table": "t", "rows_copied": "many", "source_status": "lost", "sql": "x", "extra": 1})
    assert odd is not None and odd.table == "t"
    assert (odd.rows_copied, odd.source_status, odd.sql) == (None, None, [])
