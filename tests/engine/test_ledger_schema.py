"""The ledger's schema version (docs/adr/0006-ledger-schema-version.md), on real PostgreSQL,
MariaDB and SQLite warm databases of this file's own (wa_ledger_pg, wa_ledger_my, a temp file).

An empty warm DB gets the current version; a warm DB of the previous release (today's unversioned
layout, made by the fixed DDL below, holding rows of real jobs) is stamped and upgraded, and its rows
still roll back exactly; upgrade steps run in order from any older version; two ensure() at once
both succeed; a ledger newer than the code is refused with nothing written.

No release has an upgrade step yet (ledger.STEPS is empty: see the ADR), so the tests of the steps
put two synthetic ones into ``ledger.STEPS`` with monkeypatch, as the next release would add its
own: the production code has no test hook.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading

import psycopg
import pytest

from tests.dbs import MY_PORT, PG_PORT, Engine
from warm_archive import ledger
from warm_archive.connections import connect
from warm_archive.engine import JobParams, TableJob
from warm_archive.errors import WarmArchiveError
from warm_archive.ledger import JOB_INDEX, SCHEMA_TABLE, TABLE, V1_NAMES, Ledger, LedgerSchemaError
from warm_archive.sqlstats import SqlStats

PG_DB, MY_DB = "wa_ledger_pg", "wa_ledger_my"
KINDS = ["pg", "my", "sqlite"]

# The previous release's ledger: the exact statements today's (unversioned) code ran on an empty
# warm DB. Fixed text, never generated from the code under test.
V1_DDL = {
    "pg": [
        'CREATE TABLE IF NOT EXISTS "warm_archive_ledger" ("id" BIGSERIAL PRIMARY KEY, "dag_id" VARCHAR(250), '
        '"run_id" VARCHAR(250), "task_id" VARCHAR(250), "batch_no" BIGINT, "strategy" VARCHAR(250), '
        '"source_table" VARCHAR(250), "target_table" VARCHAR(250), "key_cols" TEXT, "where_sql" TEXT, '
        '"key_lo" TEXT, "key_hi" TEXT, "keys" TEXT, "existing" TEXT, "previous" TEXT, "rows_inserted" BIGINT, '
        '"rows_deleted" BIGINT, "rows_changed" BIGINT, "created_at" VARCHAR(40), "source_deleted_at" VARCHAR(40), '
        '"rolled_back_at" VARCHAR(40))',
        'CREATE UNIQUE INDEX IF NOT EXISTS "warm_archive_ledger_job" ON "warm_archive_ledger" '
        '("dag_id", "run_id", "task_id", "batch_no")',
    ],
    "my": [
        "CREATE TABLE IF NOT EXISTS `warm_archive_ledger` (`id` BIGINT AUTO_INCREMENT PRIMARY KEY, "
        "`dag_id` VARCHAR(250), `run_id` VARCHAR(250), `task_id` VARCHAR(250), `batch_no` BIGINT, "
        "`strategy` VARCHAR(250), `source_table` VARCHAR(250), `target_table` VARCHAR(250), `key_cols` LONGTEXT, "
        "`where_sql` LONGTEXT, `key_lo` LONGTEXT, `key_hi` LONGTEXT, `keys` LONGTEXT, `existing` LONGTEXT, "
        "`previous` LONGTEXT, `rows_inserted` BIGINT, `rows_deleted` BIGINT, `rows_changed` BIGINT, "
        "`created_at` VARCHAR(40), `source_deleted_at` VARCHAR(40), `rolled_back_at` VARCHAR(40))",
        "CREATE UNIQUE INDEX `warm_archive_ledger_job` ON `warm_archive_ledger` "
        "(`dag_id`, `run_id`, `task_id`, `batch_no`)",
    ],
    "sqlite": [
        'CREATE TABLE IF NOT EXISTS "warm_archive_ledger" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, '
        '"dag_id" VARCHAR(250), "run_id" VARCHAR(250), "task_id" VARCHAR(250), "batch_no" BIGINT, '
        '"strategy" VARCHAR(250), "source_table" VARCHAR(250), "target_table" VARCHAR(250), "key_cols" TEXT, '
        '"where_sql" TEXT, "key_lo" TEXT, "key_hi" TEXT, "keys" TEXT, "existing" TEXT, "previous" TEXT, '
        '"rows_inserted" BIGINT, "rows_deleted" BIGINT, "rows_changed" BIGINT, "created_at" VARCHAR(40), '
        '"source_deleted_at" VARCHAR(40), "rolled_back_at" VARCHAR(40))',
        'CREATE UNIQUE INDEX IF NOT EXISTS "warm_archive_ledger_job" ON "warm_archive_ledger" '
        '("dag_id", "run_id", "task_id", "batch_no")',
    ],
}

SQLITE_ROWS = [(i, f"2020-01-{1 + i % 28:02d} 10:00:00", f"note {i} | ' \\ ✓", None if i % 5 == 0 else i * 1.25)
               for i in range(1, 1201)]  # fmt: skip


class _Eng(Engine):
    """tests.dbs.Engine (orders tables, normalised rows) on this file's own database."""

    def __init__(self, kind: str, conn):
        self.conn_id, self.name, self.kind, self.conn = None, kind, kind, conn


class World:
    """A fresh warm DB of one engine, the source table beside it, and the test's own connection."""

    def __init__(self, kind: str, tmp_path, monkeypatch):
        self.kind = kind
        if kind == "pg":
            with psycopg.connect(f"host=127.0.0.1 port={PG_PORT} user=root dbname=test", autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
                c.execute(f'CREATE DATABASE "{PG_DB}"')
            self.conn = psycopg.connect(
                f"host=127.0.0.1 port={PG_PORT} user=root dbname={PG_DB}", autocommit=True, prepare_threshold=None
            )
            self.conn_id = self.src_conn_id = "L_PG"
            monkeypatch.setenv("AIRFLOW_CONN_L_PG", f"postgresql://root@127.0.0.1:{PG_PORT}/{PG_DB}")
            self.src_table, self.warm_table = "public.orders", "public.orders_warm"
            self.where = "created_at < '2025-01-01'"
            self.eng = _Eng("pg", self.conn)
        elif kind == "my":
            import MySQLdb

            c = MySQLdb.connect(host="127.0.0.1", port=MY_PORT, user="root")
            c.cursor().execute(f"DROP DATABASE IF EXISTS `{MY_DB}`")
            c.cursor().execute(f"CREATE DATABASE `{MY_DB}`")
            c.close()
            self.conn = MySQLdb.connect(host="127.0.0.1", port=MY_PORT, user="root", db=MY_DB, charset="utf8mb4")
            self.conn.autocommit(True)
            self.conn_id = self.src_conn_id = "L_MY"
            monkeypatch.setenv("AIRFLOW_CONN_L_MY", f"mysql://root@127.0.0.1:{MY_PORT}/{MY_DB}")
            self.src_table, self.warm_table = f"{MY_DB}.orders", f"{MY_DB}.orders_warm"
            self.where = "created_at < '2025-01-01'"
            self.eng = _Eng("my", self.conn)
        else:
            self.hot, warm = tmp_path / "hot.db", tmp_path / "warm.db"
            self.conn = sqlite3.connect(warm, isolation_level=None, check_same_thread=False)
            self.conn_id, self.src_conn_id = "L_SQLITE_WARM", "L_SQLITE_HOT"
            for name, path in ((self.src_conn_id, self.hot), (self.conn_id, warm)):
                monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps({"conn_type": "sqlite", "host": str(path)}))
            self.src_table, self.warm_table = "orders", "orders_warm"
            self.where = "created_at < '2020-01-15'"

    def close(self):
        self.conn.close()

    # -- SQL on the warm DB ---------------------------------------------------------------------
    def sql(self, query: str, params=()) -> list:
        if self.kind == "sqlite":
            return self.conn.execute(query.replace("%s", "?"), params).fetchall()
        if self.kind == "pg":
            cur = self.conn.execute(query, params)
            return cur.fetchall() if cur.description else []
        cur = self.conn.cursor()
        cur.execute(query, params or None)
        return list(cur.fetchall()) if cur.description else []

    def tables(self) -> set[str]:
        if self.kind == "pg":
            q = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        elif self.kind == "my":
            q = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
        else:
            q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        return {r[0] for r in self.sql(q)}

    def versions(self) -> list:
        return [tuple(r) for r in self.sql(f"SELECT component, version FROM {SCHEMA_TABLE}")]

    def ledger_rows(self) -> list:
        return [tuple(r) for r in self.sql(f"SELECT * FROM {TABLE} ORDER BY id")]

    def run_v1_ddl(self):
        for statement in V1_DDL[self.kind]:
            self.sql(statement)

    def drop(self, *tables: str):
        for t in tables:
            self.sql(f"DROP TABLE IF EXISTS {t}")

    def layout(self) -> list:
        """The ledger's columns (types, defaults, NOT NULL) and indexes, as the catalog says."""
        if self.kind == "pg":
            cols = self.sql(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
                "pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a LEFT JOIN pg_attrdef d "
                "ON d.adrelid = a.attrelid AND d.adnum = a.attnum WHERE a.attrelid = to_regclass(%s) "
                "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
                (TABLE,),
            )
            idx = self.sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
                "AND tablename = %s ORDER BY indexname",
                (TABLE,),
            )
            return [*map(tuple, cols), *map(tuple, idx)]
        if self.kind == "my":
            ddl = self.sql(f"SHOW CREATE TABLE {TABLE}")[0][1]
            return [re.sub(r" AUTO_INCREMENT=\d+", "", ddl)]
        return self.sql("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = %s ORDER BY name", (TABLE,))

    # -- the source and warm tables of the jobs -------------------------------------------------
    def create_source(self):
        if self.kind == "sqlite":
            with sqlite3.connect(self.hot) as c:
                c.execute(
                    "CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, note TEXT, amount REAL)"
                )
                c.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", SQLITE_ROWS)
            c.close()
        else:
            self.eng.create_orders(self.src_table, 1500)

    def src_rows(self) -> dict:
        if self.kind == "sqlite":
            c = sqlite3.connect(self.hot)
            try:
                return {r[0]: r for r in c.execute("SELECT * FROM orders ORDER BY id")}
            finally:
                c.close()
        return self.eng.rows(self.src_table)

    def warm_rows(self) -> dict:
        if self.kind == "sqlite":
            return {r[0]: r for r in self.sql(f"SELECT * FROM {self.warm_table} ORDER BY id")}
        return self.eng.rows(self.warm_table)

    def params(self, run_id: str, strategy: str = "copy_then_delete", where: str | None = None) -> JobParams:
        return JobParams(
            dag_id="wa_ledger_test",
            run_id=run_id,
            task_id="orders",
            source_conn_id=self.src_conn_id,
            source_table=self.src_table,
            target_conn_id=self.conn_id,
            target_table=self.warm_table,
            key=["id"],
            where=where or self.where,
            strategy=strategy,
            batch_size=400,
        )

    def run(self, run_id: str, strategy: str = "copy_then_delete", where: str | None = None) -> dict:
        with TableJob(self.params(run_id, strategy, where)) as job:
            return job.run()

    def rollback(self, run_id: str) -> dict:
        with TableJob(self.params(run_id)) as job:
            job.prepare(create_target=False)
            return job.rollback()

    def verify(self, run_id: str) -> dict:
        with TableJob(self.params(run_id)) as job:
            job.prepare(create_target=False)
            return job.verify()

    def ensure(self):
        """One worker's ensure(), on a connection of its own (as a job opens it)."""
        d = connect(self.conn_id)
        try:
            Ledger(d, SqlStats()).ensure()
        finally:
            d.conn.close()

    def snapshot(self) -> dict:
        """Everything a refused job must leave as it was."""
        tables = self.tables()
        return {
            "tables": tables,
            "versions": self.versions() if SCHEMA_TABLE in tables else None,
            "ledger": self.ledger_rows() if TABLE in tables else None,
            "layout": self.layout() if TABLE in tables else None,
            "source": _or_none(self.src_rows),
            "warm": _or_none(self.warm_rows),
        }


def _or_none(read):
    try:
        return read()
    except Exception:  # the table does not exist (yet)
        return None


@pytest.fixture(params=KINDS)
def world(request, tmp_path, monkeypatch):
    w = World(request.param, tmp_path, monkeypatch)
    yield w
    w.close()


def _synthetic_steps(world, monkeypatch) -> list[int]:
    """Two upgrade steps as a next release would add them (an index; a column), each idempotent
    the way ledger.STEPS requires; returns the list of the versions they ran for."""
    ran: list[int] = []

    def add_index(led: Ledger):
        ran.append(2)
        led.create_index("warm_archive_ledger_target", ("target_table",))

    def add_column(led: Ledger):
        ran.append(3)
        if "verified_at" not in {c.name for c in led.d.columns(TABLE)}:
            led.d.conn.cursor().execute(f"ALTER TABLE {led.t} ADD COLUMN {led.d.quote('verified_at')} VARCHAR(40)")

    monkeypatch.setattr(
        ledger, "STEPS", (("an index on target_table", add_index), ("a column verified_at", add_column))
    )
    return ran


def _has_index(world, name: str) -> bool:
    if world.kind == "pg":
        return bool(world.sql("SELECT 1 FROM pg_indexes WHERE schemaname = 'public' AND indexname = %s", (name,)))
    if world.kind == "my":
        return bool(
            world.sql(
                "SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = %s AND INDEX_NAME = %s",
                (TABLE, name),
            )
        )
    return bool(world.sql("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = %s", (name,)))


def _columns(world) -> list[str]:
    d = connect(world.conn_id)
    try:
        return [c.name for c in d.columns(TABLE)]
    finally:
        d.conn.close()


# ------------------------------------------------------------------------------------------------


def test_an_empty_warm_db_gets_the_current_version(world):
    # What the previous release created, for comparison; then an empty DB again.
    world.run_v1_ddl()
    v1_layout = world.layout()
    world.drop(TABLE)
    assert world.tables() == set()

    world.ensure()
    assert world.tables() == {TABLE, SCHEMA_TABLE}
    assert world.versions() == [("ledger", ledger.current_version())]
    # No release has an upgrade step yet: the current layout is exactly the previous release's.
    # (The step that makes version 2 changes this expectation.)
    assert ledger.current_version() == 1
    assert world.layout() == v1_layout

    world.ensure()  # again: nothing changes
    assert world.versions() == [("ledger", ledger.current_version())]
    assert world.layout() == v1_layout


def test_upgrade_from_todays_layout_keeps_the_rows_rollback_needs(world):
    world.run_v1_ddl()  # the previous release created the ledger...
    v1_layout = world.layout()
    world.create_source()
    before_src = world.src_rows()
    world.run("create_target", "copy", where="1=0")  # the empty warm table
    warm_before = world.warm_rows()
    out = world.run("earlier", "move")  # ...and a real job put its rows in it
    archived = {k: v for k, v in before_src.items() if k not in world.src_rows()}
    assert out["rows_copied"] == len(archived) > 400  # several batches
    # Back to exactly what the previous release leaves: no version table (no step to undo today).
    world.drop(SCHEMA_TABLE)
    assert world.tables() == {TABLE, "orders_warm"} | ({"orders"} if world.kind != "sqlite" else set())
    assert world.layout() == v1_layout
    old = world.ledger_rows()
    assert len(old) >= 2 + 2  # two headers, the batches of "earlier"

    world.run("later", "copy", where="1=0")  # the first job of the new release
    assert world.versions() == [("ledger", ledger.current_version())]
    assert world.layout() == v1_layout
    assert world.ledger_rows()[: len(old)] == old  # untouched, and still read right:
    report = world.verify("earlier")
    assert report["rows"] == len(archived) and report["in_warm"] == len(archived) and report["lost"] == 0

    out = world.rollback("earlier")
    assert out["rows_restored"] == out["rows_removed"] == len(archived)
    assert world.src_rows() == before_src
    assert world.warm_rows() == warm_before


def test_upgrade_steps_run_in_order_from_any_older_version(world, monkeypatch):
    world.run_v1_ddl()
    world.create_source()
    world.run("earlier", "copy")  # rows in the ledger, by the current code
    world.drop(SCHEMA_TABLE)  # the previous release's unversioned ledger
    old = world.ledger_rows()
    ran = _synthetic_steps(world, monkeypatch)

    world.ensure()  # unversioned = version 1, then 2, then 3
    assert ran == [2, 3]
    assert world.versions() == [("ledger", 3)]
    assert _has_index(world, "warm_archive_ledger_target")
    assert _columns(world) == [*V1_NAMES, "verified_at"]
    assert [r[: len(V1_NAMES)] for r in world.ledger_rows()] == old

    # A warm DB the release with step 2 only upgraded: only step 3 runs.
    world.sql(f"ALTER TABLE {TABLE} DROP COLUMN verified_at")
    world.sql(f"UPDATE {SCHEMA_TABLE} SET version = 2")
    ran.clear()
    world.ensure()
    assert ran == [3] and world.versions() == [("ledger", 3)]
    assert _columns(world) == [*V1_NAMES, "verified_at"]

    # A killed upgrade (step 3 done, stamp still 2) runs step 3 again, harmlessly.
    world.sql(f"UPDATE {SCHEMA_TABLE} SET version = 2")
    ran.clear()
    world.ensure()
    assert ran == [3] and world.versions() == [("ledger", 3)]

    ran.clear()
    world.ensure()  # current: nothing runs
    assert ran == [] and world.versions() == [("ledger", 3)]
    assert [r[: len(V1_NAMES)] for r in world.ledger_rows()] == old


def _two_at_once(world) -> list[BaseException]:
    """Two workers' ensure() released at the same instant, each on its own connection."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            d = connect(world.conn_id)
            try:
                led = Ledger(d, SqlStats())
                barrier.wait(timeout=30)
                led.ensure()
            finally:
                d.conn.close()
        except BaseException as e:  # noqa: B036 - reported by the test
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors


def test_two_ensures_at_once_on_a_fresh_db(world):
    for _ in range(5):
        world.drop(TABLE, SCHEMA_TABLE)
        assert _two_at_once(world) == []
        assert world.versions() == [("ledger", ledger.current_version())]
        assert _columns(world) == list(V1_NAMES)
        assert _has_index(world, JOB_INDEX)


@pytest.mark.parametrize("start", ["empty", "unversioned"])
def test_two_upgrades_at_once(world, monkeypatch, start):
    ran = _synthetic_steps(world, monkeypatch)
    for _ in range(3):
        world.drop(TABLE, SCHEMA_TABLE)
        if start == "unversioned":
            world.run_v1_ddl()
        ran.clear()
        assert _two_at_once(world) == []
        assert world.versions() == [("ledger", 3)]
        assert _columns(world) == [*V1_NAMES, "verified_at"]
        assert _has_index(world, JOB_INDEX) and _has_index(world, "warm_archive_ledger_target")
        assert set(ran) == {2, 3}


def test_a_newer_ledger_is_refused_and_nothing_is_written(world):
    world.create_source()
    world.run("earlier", "copy_then_delete")
    newer = ledger.current_version() + 1
    world.sql(f"UPDATE {SCHEMA_TABLE} SET version = %s", (newer,))
    snap = world.snapshot()
    words = f"schema version {newer}, newer than version {ledger.current_version()}"

    with pytest.raises(LedgerSchemaError, match=words):
        world.ensure()
    with pytest.raises(WarmArchiveError, match=words):  # a new job of the old code
        world.run("later", "move")
    with pytest.raises(WarmArchiveError, match=words):  # a rollback: it would stamp the ledger
        world.rollback("earlier")
    assert world.snapshot() == snap

    world.drop(TABLE)  # a newer version table, and no ledger yet: none is created
    snap = world.snapshot()
    with pytest.raises(LedgerSchemaError, match=words):
        world.ensure()
    assert world.snapshot() == snap


def test_an_unversioned_ledger_of_an_unknown_layout_is_refused(world):
    world.run_v1_ddl()
    world.sql(f"ALTER TABLE {TABLE} ADD COLUMN something_else VARCHAR(10)")
    snap = world.snapshot()
    with pytest.raises(LedgerSchemaError, match="no schema version .* not those of version 1"):
        world.ensure()
    assert world.snapshot() == snap
