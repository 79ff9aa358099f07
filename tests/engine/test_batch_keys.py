"""Keys of one integer column beyond 64 bits (MariaDB BIGINT UNSIGNED): archived exactly, to
MariaDB or to PostgreSQL's NUMERIC(20), and rollback restores both tables."""

from __future__ import annotations

import dataclasses

import pytest

from tests.dbs import checksum
from tests.engine.conftest import SRC, WARM, Pair
from warm_archive.engine import TableJob
from warm_archive.rollback import rollback_job


def _rollback(params):
    with TableJob(params) as job:
        job.prepare(create_target=False)
        return rollback_job(job)


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
