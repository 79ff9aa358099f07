"""MariaDB batch key reads walk the key's own index, bounded by the planned last key.

With an index on the condition's column, MariaDB tends to read that index and sort every remaining
match for each batch's ``ORDER BY key LIMIT n``; the job therefore names the key's unique index
(PRIMARY or another) and stops at the last key it planned. These tests check that the rows
archived are exactly the expected ones either way, and that the named index is the right one.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.engine.conftest import SRC, Pair
from warm_archive.engine import TableJob


def _index_hints(status: dict) -> set[str]:
    return {
        s["statement"].split("FORCE INDEX (")[1].split(")")[0]
        for s in status["sql"]
        if "FORCE INDEX (" in s["statement"]
    }


@pytest.mark.parametrize("warm", ["my", "my2", "pg"])
@pytest.mark.parametrize("key", ["id", "ref"])
def test_mariadb_batches_walk_the_key_index_and_archive_exactly(engines, warm, key):
    pair = Pair(engines["my"], engines[warm]).reset(n=2500)
    t = pair.src.q(SRC)
    pair.src.execute(f"CREATE INDEX by_created ON {t} (created_at)")
    if key == "ref":  # a unique index that is not the primary key, its name needing quotes
        pair.src.execute(f"ALTER TABLE {t} ADD COLUMN ref bigint NULL")
        pair.src.execute(f"UPDATE {t} SET ref = 100000 - id")  # the reverse of id's order
        pair.src.execute(f"CREATE UNIQUE INDEX `ux ref` ON {t} (ref)")
    params = dataclasses.replace(pair.params("move", batch_size=300), key=[key])
    with TableJob(params) as job:
        status = job.run()

    assert _index_hints(status) == {"`PRIMARY`" if key == "id" else "`ux ref`"}
    assert status["rows_copied"] == status["rows_deleted"] == len(pair.expected_archived)
    assert pair.warm_rows() == pair.expected_archived
    assert pair.src_rows() == {k: v for k, v in pair.before_src.items() if k not in pair.expected_archived}


def test_no_hint_when_no_unique_index_has_exactly_the_key_in_order(engines):
    pair = Pair(engines["my"], engines["my"]).reset(n=50)
    t = pair.src.q(SRC)
    pair.src.execute(f"ALTER TABLE {t} ADD COLUMN ref bigint NOT NULL DEFAULT 0")
    pair.src.execute(f"UPDATE {t} SET ref = id")
    pair.src.execute(f"CREATE UNIQUE INDEX ux_pair ON {t} (ref, id)")
    with TableJob(pair.params()) as job:
        job.prepare()
        assert job.src.key_index(SRC, ["id"]) == "PRIMARY"
        assert job.src.key_index(SRC, ["ref", "id"]) == "ux_pair"
        assert job.src.key_index(SRC, ["id", "ref"]) is None  # same columns, other order
