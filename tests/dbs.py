"""Real-database helpers for the tests: a realistic orders table on either engine, and checksums
that compare table contents across engines (same normalisation as the engine's verification)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
from decimal import Decimal

import MySQLdb
import psycopg

from warm_archive.values import normalize_row

PG_PORT = int(os.environ.get("WARM_TEST_PG_PORT", "5432"))  # tests/conftest.py
MY_PORT = int(os.environ.get("WARM_TEST_MY_PORT", "3306"))
PG_DSN = f"host=127.0.0.1 port={PG_PORT} user=root dbname=wa_engine"
CONN_ID = {"pg": "T_PG", "my": "T_MY", "pg2": "T_PG2", "my2": "T_MY2", "myload": "T_MY_LOAD"}
COLUMNS = ["id", "created_at", "amount", "status", "note", "flag", "payload"]
CUTOFF = dt.datetime(2025, 1, 1)

PG_DDL = """CREATE TABLE {t} (id bigint PRIMARY KEY, created_at timestamp NOT NULL,
 amount numeric(12,2) NOT NULL, status varchar(20) NOT NULL, note text, flag boolean NOT NULL,
 payload jsonb)"""
MY_DDL = """CREATE TABLE {t} (id bigint PRIMARY KEY, created_at datetime(6) NOT NULL,
 amount decimal(12,2) NOT NULL, status varchar(20) NOT NULL, note text, flag tinyint(1) NOT NULL,
 payload longtext)"""

TRICKY = ["plain", "tab\there", "line\nbreak", "back\\slash", "quote ' \" ", "pipe|bar", "ünïcødé ✓", "", "%s %% ?"]


def pg():
    return psycopg.connect(PG_DSN, autocommit=True, prepare_threshold=None)


def my():
    c = MySQLdb.connect(host="127.0.0.1", port=MY_PORT, user="root", db="wa_engine", charset="utf8mb4")
    c.autocommit(True)
    return c


class Engine:
    """One engine's test database: run SQL, (re)create tables, read them back."""

    def __init__(self, kind: str):
        """``pg``/``my``; ``pg2``/``my2``: the same database, reached by the engine as another user;
        ``myload``: MariaDB's, through a connection that allows LOAD DATA LOCAL."""
        self.conn_id = CONN_ID[kind]
        self.name = kind
        self.kind = kind[:2]
        self.conn = pg() if self.kind == "pg" else my()

    def q(self, name: str) -> str:
        return ".".join(f'"{p}"' if self.kind == "pg" else f"`{p}`" for p in name.split("."))

    def alive(self):
        """Reconnect if a server restart (the fault tests do that) dropped the connection."""
        try:
            self.execute("SELECT 1").fetchall()
        except Exception:
            self.conn = pg() if self.kind == "pg" else my()
        return self

    def execute(self, sql: str, params=None):
        if self.kind == "pg":
            return self.conn.execute(sql, params)
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur

    def schema(self, name: str):
        word = "SCHEMA" if self.kind == "pg" else "DATABASE"
        self.execute(f"CREATE {word} IF NOT EXISTS {self.q(name)}")

    def drop(self, table: str):
        self.execute(f"DROP TABLE IF EXISTS {self.q(table)}")

    def create_orders(self, table: str, n: int, seed: int = 7, first_id: int = 1):
        self.schema(table.split(".")[0])
        self.drop(table)
        self.execute((PG_DDL if self.kind == "pg" else MY_DDL).format(t=self.q(table)))
        self.insert(table, orders_rows(n, seed, first_id))

    def insert(self, table: str, rows):
        rows = list(rows)
        if not rows:
            return
        ph = ", ".join(["%s"] * len(COLUMNS))
        sql = f"INSERT INTO {self.q(table)} ({', '.join(COLUMNS)}) VALUES ({ph})"
        if self.kind == "pg":
            schema, name = table.split(".")
            flag_type = self.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = %s AND "
                "table_name = %s AND column_name = 'flag'",
                (schema, name),
            ).fetchone()[0]
            as_int = flag_type != "boolean"  # a warm table created from MariaDB's tinyint(1)
            with self.conn.cursor() as cur:
                cur.executemany(sql, [_pg_row(r, as_int) for r in rows])
        else:
            self.conn.cursor().executemany(sql, [_my_row(r) for r in rows])

    def rows(self, table: str, where: str = "1=1") -> dict:
        """key -> normalised row, for comparing contents across engines."""
        cur = self.execute(f"SELECT {', '.join(COLUMNS)} FROM {self.q(table)} WHERE {where} ORDER BY id")
        return {r[0]: normalize_row(r) for r in cur.fetchall()}

    def count(self, table: str) -> int:
        return self.execute(f"SELECT COUNT(*) FROM {self.q(table)}").fetchone()[0]

    def ledger(self, target: str) -> str:
        """The engine's ledger of warm table ``target`` (warm_archive.ledger.ledger_database): on
        MariaDB in the table's own database, on PostgreSQL in the connection's database."""
        db = target.split(".")[0] if self.kind == "my" and "." in target else None
        return f"{db}.warm_archive_ledger" if db else "warm_archive_ledger"

    def clear_ledger(self, *warm_dbs: str):
        """Drop the ledger of the connection's database and, on MariaDB, those beside the warm
        tables of ``warm_dbs`` (default: ``t_warm``, the engine tests' warm database)."""
        self.execute("DROP TABLE IF EXISTS warm_archive_ledger")
        if self.kind == "my":
            for db in warm_dbs or ("t_warm",):
                self.execute(f"DROP TABLE IF EXISTS {self.q(db)}.warm_archive_ledger")

    def ledger_exists(self, target: str) -> bool:
        """Whether the ledger of warm table ``target`` exists where the engine keeps it."""
        if self.kind == "pg":
            return bool(self.execute("SELECT to_regclass('warm_archive_ledger')").fetchone()[0])
        db = target.split(".")[0] if "." in target else None
        sql = "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(%s, DATABASE()) "
        return bool(self.execute(sql + "AND TABLE_NAME = 'warm_archive_ledger'", (db,)).fetchone()[0])

    def close(self):
        self.conn.close()


def orders_rows(n: int, seed: int = 7, first_id: int = 1):
    rnd = random.Random(seed)
    start = dt.datetime(2023, 1, 1)
    span = (dt.datetime(2026, 1, 1) - start).total_seconds()
    for i in range(first_id, first_id + n):
        created = start + dt.timedelta(
            seconds=int(span * (i - first_id) / max(n, 1)), microseconds=rnd.randrange(10**6)
        )
        yield (
            i,
            created,
            Decimal(rnd.randrange(0, 10**7)) / 100,
            rnd.choice(["new", "paid", "shipped", "closed"]),
            None if i % 7 == 0 else rnd.choice(TRICKY) + f" #{i}",
            i % 2 == 0,
            None if i % 5 == 0 else {"customer": rnd.randrange(1000), "tags": ["a", "b"][: i % 3]},
        )


def _pg_row(r, flag_as_int=False):
    from psycopg.types.json import Jsonb

    flag = int(r[5]) if flag_as_int else r[5]
    return (*r[:5], flag, Jsonb(r[6]) if r[6] is not None else None)


def _my_row(r):
    import json

    return (*r[:5], int(r[5]), json.dumps(r[6]) if r[6] is not None else None)


def checksum(rows: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(rows):
        h.update(repr(rows[k]).encode())
    return h.hexdigest()
