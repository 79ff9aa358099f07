"""A batch's keys (``TableJob._batch_keys``, ``values.IntKeys``): a dense integer batch is known
from its count and ends, a batch with gaps is read key by key, and keys beyond 64 bits keep the
tuple form. Each way archives exactly the matching rows, and rollback restores both tables."""

from __future__ import annotations

import dataclasses

import pytest

from tests.dbs import checksum
from tests.engine.conftest import SRC, WARM, WHERE, Pair
from warm_archive.engine import TableJob


def _rollback(params):
    with TableJob(params) as job:
        job.prepare(create_target=False)
        return job.rollback()


def _key_reads(status: dict) -> tuple[int, int]:
    """(batches known from count and ends, batches read key by key)."""
    sql = status["sql"]
    spans = sum(
        s["count"]
        for s in sql
        if s["statement"].startswith("SELECT COUNT(*), MIN(") and " FROM (SELECT " in s["statement"]
    )  # not the plan's count and ends
    full = sum(s["count"] for s in sql if "LIMIT %s" in s["statement"] and "COUNT(*)" not in s["statement"])
    return spans, full


# Where rows stream server to server (one database, PG->PG, across engines); MariaDB over two
# connections reads the batch's rows themselves, keys included.
@pytest.mark.parametrize(
    "src,warm", [("pg", "pg"), ("my", "my"), ("pg", "pg2"), ("my", "pg"), ("pg", "my")], ids=lambda v: v
)
def test_dense_batches_are_known_without_reading_each_key(engines, src, warm):
    pair = Pair(engines[src], engines[warm]).reset()
    status = pair.run("copy_then_delete")
    assert pair.warm_rows() == pair.expected_archived
    spans, full = _key_reads(status)
    assert spans == status["batches"] + 1 and full == 0  # + the read that finds nothing left


@pytest.mark.parametrize("strategy", ["copy_then_delete", "move"])
def test_batches_with_gaps_archive_exactly_and_roll_back(pair, strategy):
    pair.run("copy", run_id="create_target", where="1=0")  # the empty warm table
    where = f"{WHERE} AND status <> 'paid'"  # scattered rows: every batch has gaps
    expected = {k: v for k, v in pair.expected_archived.items() if v[3] != "paid"}
    params = pair.params(strategy, run_id=f"gaps_{strategy}", where=where)
    with TableJob(params) as job:
        status = job.run()

    assert pair.warm_rows() == expected
    assert pair.src_rows() == {k: v for k, v in pair.before_src.items() if k not in expected}
    assert status["rows_copied"] == status["rows_deleted"] == len(expected)
    spans, full = _key_reads(status)
    assert full >= status["batches"]  # each batch had gaps: its keys were read one by one

    _rollback(params)
    assert checksum(pair.src_rows()) == checksum(pair.before_src)
    assert pair.warm_rows() == {}


UNSIGNED = 2**64 - 1


@pytest.mark.parametrize("warm", ["my2", "pg"])
def test_unsigned_keys_beyond_64_bits_archive_exactly_and_roll_back(engines, warm):
    pair = Pair(engines["my"], engines[warm]).reset(n=10)
    src = pair.src
    t = src.q(SRC)
    src.execute(f"ALTER TABLE {t} MODIFY id bigint unsigned NOT NULL")
    # ids from 2**63 - 3 (fits a signed 64-bit integer) to 2**64 - 1 (does not), with gaps
    ids = [2**63 - 3, 2**63 - 2, 2**63 - 1, 2**63, 2**63 + 1, 2**63 + 7, UNSIGNED - 1, UNSIGNED]
    for i, new in enumerate(ids, start=1):
        src.execute(f"UPDATE {t} SET id = %s WHERE id = %s", (new, i))
    before = src.rows(SRC)
    archived = {k: v for k, v in before.items() if k in set(ids)}
    params = dataclasses.replace(pair.params("copy_then_delete", where=f"id >= {2**63 - 3}"), batch_size=3)
    with TableJob(params) as job:
        status = job.run()

    assert status["rows_copied"] == status["rows_deleted"] == len(ids)
    assert pair.warm.rows(WARM) == archived
    assert src.rows(SRC) == {k: v for k, v in before.items() if k not in archived}

    _rollback(params)
    assert checksum(src.rows(SRC)) == checksum(before)
    assert pair.warm.rows(WARM) == {}
