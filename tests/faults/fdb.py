"""The fault suite's own user databases (PostgreSQL ``wa_fault``, MariaDB ``wa_fault``), its Airflow
connections ``F_PG`` / ``F_MY``, source/warm table pairs on either engine, and the checks every
fault scenario ends with: nothing lost, nothing duplicated, exact tables.

Tables: PostgreSQL ``fsrc.<name>`` / ``fwarm.<name>``; MariaDB ``wa_fault.src_<name>`` /
``wa_fault.warm_<name>`` (a MariaDB schema is a database: everything stays inside ``wa_fault``).
"""

from __future__ import annotations

import os
import threading

import MySQLdb
import psycopg

from tests.dbs import CUTOFF, Engine
from tests.faults import tally

DB = "wa_fault"
PG_URI = f"postgresql://root@127.0.0.1:5432/{DB}"
MY_URI = f"mysql://root@127.0.0.1:3306/{DB}"
CONN_ID = {"pg": "F_PG", "my": "F_MY"}
WHERE = "created_at < '2025-01-01'"
PAIRS = [("pg", "pg"), ("my", "my"), ("pg", "my"), ("my", "pg")]

os.environ.setdefault("AIRFLOW_CONN_F_PG", PG_URI)
os.environ.setdefault("AIRFLOW_CONN_F_MY", MY_URI)


def create_databases() -> None:
    with psycopg.connect("host=127.0.0.1 user=root dbname=postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone():
            c.execute(f'CREATE DATABASE "{DB}"')
    m = MySQLdb.connect(host="127.0.0.1", user="root")
    m.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{DB}`")
    m.close()


def table(kind: str, side: str, name: str) -> str:
    """``side`` is "src" or "warm"."""
    return f"f{side}.{name}" if kind == "pg" else f"{DB}.{side}_{name}"


class FEngine(Engine):
    """tests.dbs.Engine on the fault suite's databases."""

    def __init__(self, kind: str):
        self.kind = kind
        self.conn_id = CONN_ID[kind]
        if kind == "pg":
            self.conn = psycopg.connect(
                f"host=127.0.0.1 user=root dbname={DB}", autocommit=True, prepare_threshold=None
            )
        else:
            self.conn = MySQLdb.connect(host="127.0.0.1", user="root", db=DB, charset="utf8mb4")
            self.conn.autocommit(True)

    def exists(self, t: str) -> bool:
        schema, name = t.split(".")
        return bool(
            self.execute(
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                (schema, name),
            ).fetchone()[0]
        )

    def rows_or_empty(self, t: str) -> dict:
        return self.rows(t) if self.exists(t) else {}

    def backend_id(self) -> int:
        return self.conn.info.backend_pid if self.kind == "pg" else self.conn.thread_id()


def backend_of(dialect) -> int:
    """Server-side id of a job's connection (a ``warm_archive.dialects.Dialect``)."""
    return dialect.conn.info.backend_pid if dialect.name == "postgres" else dialect.conn.thread_id()


def kill_backend(admin: FEngine, kind: str, backend: int) -> None:
    """Drop a connection from the server side."""
    if kind == "pg":
        assert admin.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()[0]
    else:
        admin.execute(f"KILL CONNECTION {int(backend)}")


def backend_waiting_on_lock(admin: FEngine, kind: str, backends: list[int]) -> int | None:
    """The first of ``backends`` that waits on a lock, or None."""
    return next((b for b in backends if waiting_on_lock(admin, kind, b)), None)


def waiting_on_lock(admin: FEngine, kind: str, backend: int) -> bool:
    if kind == "pg":
        r = admin.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (backend,)).fetchone()
        return bool(r) and r[0] == "Lock"
    r = admin.execute(
        "SELECT STATE, COMMAND, TIME, INFO FROM information_schema.PROCESSLIST WHERE ID = %s", (backend,)
    ).fetchone()
    if not r:
        return False
    state, command, seconds, info = r
    if state and "lock" in state.lower():  # table / metadata locks
        return True
    # Row locks: INNODB_TRX says LOCK WAIT, but its cache lags; in these small jobs a statement
    # running for 2 s is waiting (FOR UPDATE, or INSERT ... SELECT's shared locks on the source).
    if command == "Query" and seconds >= 2 and info:
        return True
    r = admin.execute(
        "SELECT trx_state FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = %s", (backend,)
    ).fetchone()
    return bool(r) and r[0] == "LOCK WAIT"


class RowLock:
    """Hold a row lock on one source row (``SELECT ... FOR UPDATE`` in an open transaction) on a
    connection of its own, until ``release()``."""

    def __init__(self, kind: str, t: str, key: int):
        self.e = FEngine(kind)
        if kind == "pg":
            self.e.conn.autocommit = False
            self.e.conn.execute(f"SELECT id FROM {self.e.q(t)} WHERE id = %s FOR UPDATE", (key,)).fetchall()
        else:
            self.e.conn.autocommit(False)
            cur = self.e.conn.cursor()
            cur.execute(f"SELECT id FROM {self.e.q(t)} WHERE id = %s FOR UPDATE", (key,))
            cur.fetchall()

    def release(self):
        try:
            self.e.conn.rollback()
        finally:
            self.e.close()


class FPair:
    """A source table of orders and its warm table (absent until a job creates it)."""

    def __init__(self, src_kind: str, warm_kind: str, name: str, engines: dict):
        self.src, self.warm = engines[src_kind], engines[warm_kind]
        self.name = name
        self.src_table = table(src_kind, "src", name)
        self.warm_table = table(warm_kind, "warm", name)

    def reset(self, n: int = 2400, seed: int = 11, create_warm: bool = False):
        self.warm.schema(self.warm_table.split(".")[0])
        self.warm.drop(self.warm_table)
        if self.warm.exists_ledger():  # forget earlier runs on this warm table (the ledger is shared)
            self.warm.execute("DELETE FROM warm_archive_ledger WHERE target_table = %s", (self.warm_table,))
        self.src.create_orders(self.src_table, n, seed)
        if create_warm:  # an empty warm table of the same engine's DDL, so both sides have a checksum
            from tests.dbs import MY_DDL, PG_DDL

            self.warm.execute((PG_DDL if self.warm.kind == "pg" else MY_DDL).format(t=self.warm.q(self.warm_table)))
        self.before_src = self.src.rows(self.src_table)
        self.before_warm = self.warm.rows_or_empty(self.warm_table)
        self.expected_archived = {k: v for k, v in self.before_src.items() if v[1] < CUTOFF}
        self.expected_kept = {k: v for k, v in self.before_src.items() if k not in self.expected_archived}
        return self

    def src_rows(self):
        return self.src.rows(self.src_table)

    def warm_rows(self):
        return self.warm.rows_or_empty(self.warm_table)

    def params(self, strategy="move", run_id="r1", dag_id="warm_fault", task_id=None, **kw):
        from warm_archive.engine import JobParams

        return JobParams(
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id or self.name,
            source_conn_id=self.src.conn_id,
            source_table=self.src_table,
            target_conn_id=self.warm.conn_id,
            target_table=self.warm_table,
            key=["id"],
            where=kw.pop("where", WHERE),
            strategy=strategy,
            batch_size=kw.pop("batch_size", 200),
            **kw,
        )

    # -- the checks ---------------------------------------------------------------------------------
    def check_nothing_lost(self) -> None:
        """Every starting row is in the source or the warm table with its content; the warm table
        holds nothing else. Counts lost rows into the summary before asserting."""
        src, warm = self.src_rows(), self.warm_rows()
        lost = [k for k, row in self.before_src.items() if src.get(k) != row and warm.get(k) != row]
        stray = [k for k in warm if k not in self.expected_archived and k not in self.before_warm]
        tally.rows(lost=lost)
        assert not lost, f"{len(lost)} row(s) in neither table: {lost[:10]}"
        assert not stray, f"warm table holds rows it should not: {stray[:10]}"

    def check_exact(self, strategy: str) -> None:
        """The state a finished archive must leave: exact checksums on both sides."""
        from tests.dbs import checksum

        src, warm = self.src_rows(), self.warm_rows()
        dup = [k for k in warm if k in src and strategy != "copy"]
        lost = [k for k, row in self.before_src.items() if src.get(k) != row and warm.get(k) != row]
        tally.rows(lost=lost, duplicated=dup)
        assert checksum(warm) == checksum(self.expected_archived), "warm table differs from the expected archive"
        expected_src = self.before_src if strategy == "copy" else self.expected_kept
        assert checksum(src) == checksum(expected_src), "source table differs from the expected state"

    def check_restored(self) -> None:
        """After a rollback: both tables equal their state before the run."""
        from tests.dbs import checksum

        src, warm = self.src_rows(), self.warm_rows()
        unrestored = [k for k, row in self.before_src.items() if src.get(k) != row]
        extra = [k for k in warm if k not in self.before_warm]
        # the summary counts a row lost only when it is in neither table, duplicated when in both
        tally.rows(
            lost=[k for k in unrestored if warm.get(k) != self.before_src[k]], duplicated=[k for k in extra if k in src]
        )
        assert checksum(src) == checksum(self.before_src), f"source not restored; missing {unrestored[:10]}"
        assert checksum(warm) == checksum(self.before_warm), f"warm table not restored; extra {extra[:10]}"


def ledger_report(pair: FPair, run_id: str, dag_id="warm_fault", task_id=None, strategy="move") -> dict:
    """verify_job over the ledger of one table job: where is every row the ledger knows of."""
    from warm_archive.engine import TableJob

    with TableJob(pair.params(strategy, run_id, dag_id=dag_id, task_id=task_id)) as job:
        job.prepare(create_target=False)
        return job.verify()


class JobThread(threading.Thread):
    """A table job (or its rollback) running in a thread of this process; ``job`` is reachable
    while it runs (its connections, its stop())."""

    def __init__(self, params, action: str = "run"):
        super().__init__(daemon=True)
        self.params, self.action = params, action
        self.job = None
        self.backends: dict = {}
        self.opened: list[tuple[str, int]] = []  # (conn id, backend) of every connection the job opens
        self.result = None
        self.error: BaseException | None = None
        self.started_evt = threading.Event()

    def run(self):
        from warm_archive.connections import connect
        from warm_archive.engine import TableJob

        def recording(conn_id):  # read as it opens: mysqlclient refuses a connection busy elsewhere
            d = connect(conn_id)
            self.opened.append((conn_id, backend_of(d)))
            return d

        try:
            with TableJob(self.params, connect=recording) as job:
                self.job = job
                # from this thread: mysqlclient refuses calls on a connection busy in another thread
                self.backends = {"src": backend_of(job.src), "warm": backend_of(job.warm)}
                self.started_evt.set()
                if self.action == "run":
                    self.result = job.run()
                else:
                    job.prepare(create_target=False)
                    self.result = job.rollback()
        except BaseException as e:  # noqa: BLE001 - reported to the test
            self.error = e
        finally:
            self.started_evt.set()

    def source_backends(self) -> list[int]:
        """Every connection the job opened to its source so far (a phase may work on several)."""
        return [b for conn_id, b in self.opened if conn_id == self.params.source_conn_id]

    def finish(self, timeout: float = 120):
        self.join(timeout)
        assert not self.is_alive(), "job thread did not finish"
        return self


def ledger_batches(engine: FEngine, dag_id: str, run_id: str, task_id: str) -> int:
    if not engine.exists_ledger():
        return 0
    return engine.execute(
        "SELECT COUNT(*) FROM warm_archive_ledger WHERE dag_id = %s AND run_id = %s AND task_id = %s AND batch_no > 0",
        (dag_id, run_id, task_id),
    ).fetchone()[0]


def _exists_ledger(self: FEngine) -> bool:
    schema = "public" if self.kind == "pg" else DB
    return bool(
        self.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = "
            "'warm_archive_ledger'",
            (schema,),
        ).fetchone()[0]
    )


FEngine.exists_ledger = _exists_ledger
