"""A pre-existing warm table whose columns cannot hold the source values exactly is refused by
column name before a row moves (typemap.narrowing), on every engine pair; a wider one is used.

Own tables (t_src.prec, t_warm.prec), so that runs of other engine tests on t_src.orders do not
collide. Besides the pairs of conftest.PAIRS, pg->pgb runs between two PostgreSQL databases.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
from decimal import Decimal

import psycopg
import pytest

from tests.dbs import CONN_ID, PG_PORT, my, pg
from tests.engine.conftest import PAIRS
from tests.faults import tally
from warm_archive.engine import JobParams, TableJob
from warm_archive.errors import WarmArchiveError

SRC, WARM = "t_src.prec", "t_warm.prec"
OTHER_PG_DB = "wa_engine_b"
os.environ.setdefault("AIRFLOW_CONN_T_PGB", f"postgresql://root@127.0.0.1:{PG_PORT}/{OTHER_PG_DB}")
ALL_PAIRS = [*PAIRS, ("pg", "pgb")]
_runs = itertools.count(1)


def _pgb():
    with psycopg.connect(f"host=127.0.0.1 port={PG_PORT} user=root dbname=test", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (OTHER_PG_DB,)).fetchone():
            c.execute(f'CREATE DATABASE "{OTHER_PG_DB}"')
    return psycopg.connect(
        f"host=127.0.0.1 port={PG_PORT} user=root dbname={OTHER_PG_DB}", autocommit=True, prepare_threshold=None
    )


class Side:
    """One end of a pair: the test's own connection to the database the job reaches by ``conn_id``."""

    def __init__(self, name: str):
        self.name, self.kind = name, name[:2]
        self.conn_id = "T_PGB" if name == "pgb" else CONN_ID[name]
        self.conn = _pgb() if name == "pgb" else pg() if self.kind == "pg" else my()

    def sql(self, sql: str, params=None) -> list:
        if self.kind == "pg":
            cur = self.conn.execute(sql, params)
            return cur.fetchall() if cur.description else []
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []

    def create(self, table: str, cols: dict[str, str]):
        schema = table.split(".")[0]
        self.sql(f"CREATE {'SCHEMA' if self.kind == 'pg' else 'DATABASE'} IF NOT EXISTS {schema}")
        self.sql(f"DROP TABLE IF EXISTS {table}")
        defs = ", ".join(f"{c} {t}" for c, t in cols.items())
        self.sql(f"CREATE TABLE {table} (id bigint PRIMARY KEY, {defs})")

    def rows(self, table: str) -> list[tuple]:
        return [tuple(r) for r in self.sql(f"SELECT * FROM {table} ORDER BY id")]

    def ledger_rows(self, run_id: str) -> int:
        """Rows of ``run_id`` in the ledger of WARM (on MariaDB beside it, in t_warm)."""
        schema = "current_schema()" if self.kind == "pg" else "'t_warm'"
        exists = self.sql(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = "
            "'warm_archive_ledger' AND table_schema = " + schema
        )[0][0]
        if not exists:
            return 0
        ledger = "warm_archive_ledger" if self.kind == "pg" else "t_warm.warm_archive_ledger"
        return self.sql(f"SELECT COUNT(*) FROM {ledger} WHERE run_id = %s", (run_id,))[0][0]

    def close(self):
        self.conn.close()


@pytest.fixture(scope="module")
def sides():
    s = {k: Side(k) for k in ("pg", "my", "pg2", "my2", "pgb")}
    yield s
    for x in s.values():
        x.close()


def _pair(sides, names):
    src, warm = sides[names[0]], sides[names[1]]
    warm.sql(f"DROP TABLE IF EXISTS {WARM}")
    return src, warm


def _run_id() -> str:
    return f"prec_{os.getpid()}_{next(_runs)}"


def _run(src: Side, warm: Side, strategy: str = "copy_then_delete", run_id: str | None = None) -> tuple[str, dict]:
    run_id = run_id or _run_id()
    p = JobParams(
        dag_id="warm_test_prec",
        run_id=run_id,
        task_id="prec",
        source_conn_id=src.conn_id,
        source_table=SRC,
        target_conn_id=warm.conn_id,
        target_table=WARM,
        key=["id"],
        where="id > 0",
        strategy=strategy,
        batch_size=2,
    )
    with TableJob(p) as job:
        return run_id, job.run()


def _type(case_types, kind: str) -> str:
    return case_types[kind] if isinstance(case_types, dict) else case_types


# name -> (source type per engine, narrower target type per engine, a value the target would change,
#          the words of the reason). The value is also in a second row next to a harmless one.
TS = "2024-01-01 10:00:00.123456"
NARROW = {
    "fractional_seconds": (
        {"pg": "timestamp(6)", "my": "datetime(6)"},
        {"pg": "timestamp(0)", "my": "datetime(0)"},
        TS,
        "fractional seconds",
    ),
    "varchar_length": ("varchar(60)", "varchar(50)", "x" * 60, "50 characters"),
    "numeric_scale": (
        {"pg": "numeric(10,2)", "my": "decimal(10,2)"},
        {"pg": "numeric(10,1)", "my": "decimal(10,1)"},
        Decimal("12345678.99"),
        "decimal places",
    ),
    "numeric_precision": (
        {"pg": "numeric(12,2)", "my": "decimal(12,2)"},
        {"pg": "numeric(10,2)", "my": "decimal(10,2)"},
        Decimal("9999999999.99"),
        "integer digits",
    ),
    "integer_width": ({"pg": "bigint", "my": "int unsigned"}, "integer", 3000000000, "holds only"),
    "text_into_short_varchar": ({"pg": "text", "my": "text"}, "varchar(50)", "y" * 60, "50 characters"),
    "text_into_tinytext": ({"pg": "text", "my": "mediumtext"}, {"my": "tinytext"}, "z" * 300, "255 bytes"),
    "charset_4_byte": (
        {"pg": "text", "my": "varchar(20) CHARACTER SET utf8mb4"},
        {"my": "varchar(20) CHARACTER SET utf8mb3"},
        "ok 😀",
        "4-byte characters",
    ),
}


def _cases():
    for names in ALL_PAIRS:
        for case, (_, tgt, _, _) in NARROW.items():
            if isinstance(tgt, dict) and names[1][:2] not in tgt:
                continue  # e.g. a 4-byte charset limit exists on MariaDB only
            yield pytest.param(names, case, id=f"{names[0]}->{names[1]}-{case}")


@pytest.mark.parametrize("names,case", list(_cases()))
def test_narrower_existing_target_is_refused_before_a_row_moves(sides, names, case):
    src, warm = _pair(sides, names)
    src_t, tgt_t, value, reason = NARROW[case]
    src.create(SRC, {"c": _type(src_t, src.kind)})
    src.sql(f"INSERT INTO {SRC} VALUES (1, %s), (2, NULL)", (value,))
    warm.create(WARM, {"c": _type(tgt_t, warm.kind)})
    before = src.rows(SRC)
    assert before[0][1] is not None and str(before[0][1]).rstrip("0") == str(value).rstrip("0")

    run_id = _run_id()
    with pytest.raises(WarmArchiveError) as e:
        _run(src, warm, run_id=run_id)
    msg = str(e.value)
    assert f"target column {WARM}.c is " in msg and reason in msg, msg
    assert "widen it to" in msg or "change it to" in msg, msg
    assert src.rows(SRC) == before
    assert warm.rows(WARM) == []
    assert warm.ledger_rows(run_id) == 0
    tally.attack("precision")


@pytest.mark.parametrize("names", ALL_PAIRS, ids=lambda n: f"{n[0]}->{n[1]}")
def test_every_narrow_column_is_named_in_one_message(sides, names):
    src, warm = _pair(sides, names)
    ts = {"pg": "timestamp(6)", "my": "datetime(6)"}
    src.create(SRC, {"created_at": ts[src.kind], "note": "varchar(60)", "qty": "integer"})
    src.sql(f"INSERT INTO {SRC} VALUES (1, %s, %s, 7)", (TS, "n" * 60))
    warm.create(
        WARM,
        {"created_at": {"pg": "timestamp(0)", "my": "datetime"}[warm.kind], "note": "varchar(40)", "qty": "bigint"},
    )
    before = src.rows(SRC)
    run_id = _run_id()
    with pytest.raises(WarmArchiveError) as e:
        _run(src, warm, strategy="move", run_id=run_id)
    msg = str(e.value)
    assert f"{WARM}.created_at is " in msg and "fractional seconds" in msg, msg
    assert f"{WARM}.note is " in msg and "40 characters" in msg, msg
    assert f"{WARM}.qty" not in msg
    assert src.rows(SRC) == before and warm.rows(WARM) == [] and warm.ledger_rows(run_id) == 0
    tally.attack("precision")


# Wider (or equal) targets: every row arrives unchanged and the verified delete removes them all.
WIDE_SRC = {
    "pg": {
        "ts": "timestamp(3)",
        "v": "varchar(40)",
        "n": "numeric(10,2)",
        "i": "integer",
        "t": "varchar(40)",
        "e": "text",
    },
    "my": {
        "ts": "datetime(3)",
        "v": "varchar(40)",
        "n": "decimal(10,2)",
        "i": "int",
        "t": "varchar(40)",
        "e": "varchar(40) CHARACTER SET utf8mb4",
    },
}
WIDE_TGT = {
    "pg": {"ts": "timestamp(6)", "v": "varchar(100)", "n": "numeric(12,2)", "i": "bigint", "t": "text", "e": "text"},
    "my": {
        "ts": "datetime(6)",
        "v": "varchar(100)",
        "n": "decimal(12,2)",
        "i": "bigint",
        "t": "text",
        "e": "longtext CHARACTER SET utf8mb4",
    },
}
WIDE_ROWS = [
    (1, dt.datetime(2024, 1, 1, 10, 0, 0, 123000), "v" * 40, Decimal("12345678.99"), 2147483647, "t" * 40, "😀 ü"),
    (2, dt.datetime(1999, 12, 31, 23, 59, 59, 999000), "", Decimal("-0.01"), -2147483648, "a\tb", None),
    (3, None, None, None, None, None, "x"),
]


@pytest.mark.parametrize("names", ALL_PAIRS, ids=lambda n: f"{n[0]}->{n[1]}")
def test_wider_existing_target_archives_every_row_exactly(sides, names):
    src, warm = _pair(sides, names)
    src.create(SRC, WIDE_SRC[src.kind])
    for r in WIDE_ROWS:
        src.sql(f"INSERT INTO {SRC} VALUES (%s, %s, %s, %s, %s, %s, %s)", r)
    warm.create(WARM, WIDE_TGT[warm.kind])
    before = src.rows(SRC)
    assert before == WIDE_ROWS
    _, status = _run(src, warm)
    assert warm.rows(WARM) == before
    assert status["rows_copied"] == status["rows_deleted"] == len(WIDE_ROWS), status
    assert src.rows(SRC) == []


@pytest.mark.parametrize("names", ALL_PAIRS, ids=lambda n: f"{n[0]}->{n[1]}")
def test_a_second_run_into_the_table_the_first_one_created_is_accepted(sides, names):
    """The rule must accept what the engine itself creates from the source's columns."""
    src, warm = _pair(sides, names)
    src.create(SRC, WIDE_SRC[src.kind])
    src.sql(f"INSERT INTO {SRC} VALUES (%s, %s, %s, %s, %s, %s, %s)", WIDE_ROWS[0])
    _run(src, warm)  # creates t_warm.prec
    src.sql(f"INSERT INTO {SRC} VALUES (%s, %s, %s, %s, %s, %s, %s)", WIDE_ROWS[1])
    _, status = _run(src, warm)
    assert status["rows_copied"] == status["rows_deleted"] == 1, status
    assert warm.rows(WARM) == WIDE_ROWS[:2] and src.rows(SRC) == []
