"""The benchmark's data: one deterministic ``orders`` table, identical in PostgreSQL and MariaDB.

Rows are computed by the servers themselves from the row number (``generate_series`` /
MariaDB's ``seq_1_to_N``) with integer formulas and ``md5`` that both engines evaluate the same
way, so building 5,000,000 rows takes seconds and both copies hold exactly the same values
(``build`` proves it by comparing the two checksums).

Columns: integer key in time order, timestamp, integer, numeric, short text, long text (64-310
chars), and two nullable columns (text and timestamp). Every tenth note ends in the characters
every copy path must escape right: a tab, double and single quotes, a backslash, a literal ``\\N``,
a newline, a carriage return and a character outside the BMP (an emoji, 4 bytes in UTF-8), so the
content checksum catches a pipe or tool that mangles any of them.

A pristine copy (``orders_seed``) stays beside the working table; ``reset`` puts the working
table back to the seed after a run deleted rows from it (vacuuming first, so PostgreSQL reuses
the freed pages instead of growing the table run after run).
"""

from __future__ import annotations

import datetime as dt
import time

from bench.config import MY_WARM_DB, PG_DB, SEED_TABLE, SRC_TABLE, WARM_TABLE, my_connect, pg_connect

BASE = dt.datetime(2022, 1, 1)
STEP_S = 37  # seconds between two orders


def cutoff(n: int) -> str:
    """Timestamp literal splitting the table at two thirds: older rows are archived."""
    return (BASE + dt.timedelta(seconds=STEP_S * (2 * n // 3) + 1)).strftime("%Y-%m-%d %H:%M:%S")


def where(n: int) -> str:
    return f"created_at < '{cutoff(n)}'"


# DDL per engine; the warm copies made for the tools that need an existing target have the same
# columns and only the primary key (what the table job creates).
PG_COLS = (
    "id bigint NOT NULL, created_at timestamp NOT NULL, customer_id integer NOT NULL, "
    "amount numeric(12,2) NOT NULL, status varchar(16) NOT NULL, note text NOT NULL, "
    "coupon varchar(20), shipped_at timestamp, PRIMARY KEY (id)"
)
MY_COLS = (
    "id bigint NOT NULL, created_at datetime(6) NOT NULL, customer_id int NOT NULL, "
    "amount decimal(12,2) NOT NULL, status varchar(16) NOT NULL, note text NOT NULL, "
    "coupon varchar(20), shipped_at datetime(6), PRIMARY KEY (id)"
)
MY_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"  # the emoji need 4-byte UTF-8

PG_GEN = """
INSERT INTO {t}
SELECT g, timestamp '2022-01-01' + g * interval '37 seconds', (g * 7919) % 50000 + 1,
       ((g * 104729) % 1000000)::numeric / 100,
       (ARRAY['new','paid','shipped','delivered','cancelled'])[(g % 5 + 1)::int],
       'order ' || g || ': ' || repeat(md5(g::text), (2 + g % 8)::int)
         || CASE WHEN g % 10 = 0 THEN chr(9) || '"q''uote" back\\slash \\N' || chr(10) || 'line' || chr(13)
                                      || ' ' || chr(128512) ELSE '' END,
       CASE WHEN g % 4 = 0 THEN 'C' || (g % 1000) END,
       CASE WHEN g % 3 <> 0 THEN timestamp '2022-01-01' + g * interval '37 seconds'
                                 + (g % 86400) * interval '1 second' END
FROM generate_series({lo}::bigint, {hi}::bigint) g
"""
MY_GEN = """
INSERT INTO {t}
SELECT seq, TIMESTAMP'2022-01-01 00:00:00' + INTERVAL seq * 37 SECOND, (seq * 7919) % 50000 + 1,
       ((seq * 104729) % 1000000) / 100,
       ELT(seq % 5 + 1, 'new','paid','shipped','delivered','cancelled'),
       CONCAT('order ', seq, ': ', REPEAT(MD5(seq), 2 + seq % 8),
              CASE WHEN seq % 10 = 0 THEN CONCAT(CHAR(9 USING utf8mb4), '"q''uote" back\\\\slash \\\\N',
                   CHAR(10 USING utf8mb4), 'line', CHAR(13 USING utf8mb4), ' ',
                   CHAR(0xF09F9880 USING utf8mb4)) ELSE '' END),
       CASE WHEN seq % 4 = 0 THEN CONCAT('C', seq % 1000) END,
       CASE WHEN seq % 3 <> 0 THEN TIMESTAMP'2022-01-01 00:00:00' + INTERVAL seq * 37 SECOND
                                   + INTERVAL seq % 86400 SECOND END
FROM bench_src.seq_{lo}_to_{hi}
"""

# One checksum, same text per row in both engines: count and the sum of 60 bits of each row's md5.
PG_ROW = (
    "md5(concat_ws('|', id::text, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US'), "
    "customer_id::text, ((amount * 100)::bigint)::text, status, note, coalesce(coupon, '~'), "
    "coalesce(to_char(shipped_at, 'YYYY-MM-DD HH24:MI:SS.US'), '~')))"
)
MY_ROW = (
    "MD5(CONCAT_WS('|', id, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f'), customer_id, "
    "CAST(amount * 100 AS SIGNED), status, note, COALESCE(coupon, '~'), "
    "COALESCE(DATE_FORMAT(shipped_at, '%Y-%m-%d %H:%i:%s.%f'), '~')))"
)


def checksum(engine: str, table: str, cond: str = "1=1", conn=None) -> tuple[int, str]:
    """(row count, content checksum) of the rows of ``table`` matching ``cond``."""
    if engine == "pg":
        sql = (
            f"SELECT count(*), coalesce(sum(('x' || substr(h, 1, 15))::bit(60)::bigint), 0)::text "
            f"FROM (SELECT {PG_ROW} AS h FROM {table} WHERE {cond}) s"
        )
        c = conn or pg_connect()
        row = c.execute(sql).fetchone()
    else:
        sql = (
            f"SELECT COUNT(*), CAST(COALESCE(SUM(CAST(CONV(SUBSTR(h, 1, 15), 16, 10) AS UNSIGNED)), 0) AS CHAR) "
            f"FROM (SELECT {MY_ROW} AS h FROM {table} WHERE {cond}) s"
        )
        c = conn or my_connect()
        cur = c.cursor()
        cur.execute(sql)
        row = cur.fetchone()
    return int(row[0]), str(row[1])


def count(engine: str, table: str, cond: str = "1=1") -> int:
    if engine == "pg":
        return pg_connect().execute(f"SELECT count(*) FROM {table} WHERE {cond}").fetchone()[0]
    cur = my_connect().cursor()
    cur.execute(f"SELECT COUNT(*) FROM {table} WHERE {cond}")
    return int(cur.fetchone()[0])


def _pg_admin():
    c = pg_connect("test")
    if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone():
        c.execute(f"CREATE DATABASE {PG_DB}")
    c.close()


def build(n: int, log=print, cap: int | None = None) -> dict:
    """(Re)create seed and working tables with ``n`` rows in both engines; returns the expected
    figures every run is checked against (``cap``: also for the capped subset of the slowest
    contender, the first ``cap`` rows to archive)."""
    _pg_admin()
    t0 = time.monotonic()
    pg = pg_connect()
    pg.execute("CREATE SCHEMA IF NOT EXISTS bench_src")
    pg.execute("CREATE SCHEMA IF NOT EXISTS bench_warm")
    for t in (SRC_TABLE, SEED_TABLE, WARM_TABLE):
        pg.execute(f"DROP TABLE IF EXISTS {t}")
    pg.execute(f"CREATE TABLE {SEED_TABLE} ({PG_COLS})")
    step = 1_000_000
    for lo in range(1, n + 1, step):
        pg.execute(PG_GEN.format(t=SEED_TABLE, lo=lo, hi=min(n, lo + step - 1)))
    pg.execute(f"CREATE TABLE {SRC_TABLE} ({PG_COLS})")
    pg.execute(f"CREATE INDEX orders_created_at ON {SRC_TABLE} (created_at)")
    pg.execute(f"INSERT INTO {SRC_TABLE} SELECT * FROM {SEED_TABLE}")
    pg.execute(f"VACUUM ANALYZE {SEED_TABLE}")
    pg.execute(f"VACUUM ANALYZE {SRC_TABLE}")
    log(f"  PostgreSQL: {n:,} rows in {time.monotonic() - t0:.1f} s")

    t0 = time.monotonic()
    my = my_connect()
    cur = my.cursor()
    cur.execute("CREATE DATABASE IF NOT EXISTS bench_src")
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {MY_WARM_DB}")
    for t in (SRC_TABLE, SEED_TABLE, WARM_TABLE):
        cur.execute(f"DROP TABLE IF EXISTS {t}")
    cur.execute(f"CREATE TABLE {SEED_TABLE} ({MY_COLS}) {MY_TABLE_OPTIONS}")
    for lo in range(1, n + 1, step):
        cur.execute(MY_GEN.format(t=SEED_TABLE, lo=lo, hi=min(n, lo + step - 1)))
    cur.execute(f"CREATE TABLE {SRC_TABLE} ({MY_COLS}, KEY orders_created_at (created_at)) {MY_TABLE_OPTIONS}")
    cur.execute(f"INSERT INTO {SRC_TABLE} SELECT * FROM {SEED_TABLE}")
    cur.execute(f"ANALYZE TABLE {SRC_TABLE}")
    cur.fetchall()
    log(f"  MariaDB: {n:,} rows in {time.monotonic() - t0:.1f} s")

    w = where(n)
    exp = {"rows": n, "where": w, "cutoff": cutoff(n)}
    for e in ("pg", "my"):
        exp[e] = {"all": checksum(e, SEED_TABLE), "archived": checksum(e, SEED_TABLE, w)}
    if exp["pg"] != exp["my"]:
        raise SystemExit(f"the generated tables differ between engines: {exp['pg']} vs {exp['my']}")
    exp["archived"] = exp["pg"]["archived"][0]
    exp["archived_checksum"] = exp["pg"]["archived"][1]
    if exp["pg"]["all"][0] != n:
        raise SystemExit(f"generated {exp['pg']['all'][0]} rows, wanted {n}")
    exp["capped"] = None
    if cap and cap < exp["archived"]:
        cw = f"{w} AND id <= {cap}"
        cnt, chk = checksum("pg", SEED_TABLE, cw)
        exp["capped"] = {
            "where": cw,
            "archived": cnt,
            "archived_checksum": chk,
            "rows": n,
            "all_archived": exp["archived"],
        }
    log(
        f"  identical in both engines: {n:,} rows, {exp['archived']:,} older than {exp['cutoff']} "
        f"(checksum {exp['archived_checksum']})"
    )
    return exp


def reset_source(engine: str, n: int) -> None:
    """Put back the rows a run deleted from the working table (rows are never changed in place)."""
    w = where(n)
    if engine == "pg":
        c = pg_connect()
        if c.execute(f"SELECT count(*) FROM {SRC_TABLE}").fetchone()[0] != n:
            c.execute(f"DELETE FROM {SRC_TABLE} WHERE {w}")
            c.execute(f"VACUUM {SRC_TABLE}")
            c.execute(f"INSERT INTO {SRC_TABLE} SELECT * FROM {SEED_TABLE} WHERE {w}")
        c.execute(f"VACUUM ANALYZE {SRC_TABLE}")
    else:
        c = my_connect()
        cur = c.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {SRC_TABLE}")
        if cur.fetchone()[0] != n:
            cur.execute(f"DELETE FROM {SRC_TABLE} WHERE {w}")
            cur.execute(f"INSERT INTO {SRC_TABLE} SELECT * FROM {SEED_TABLE} WHERE {w}")
            cur.execute(f"ANALYZE TABLE {SRC_TABLE}")
            cur.fetchall()


def reset_warm(engine: str, create: bool) -> None:
    """Drop the warm table and the engine's ledger; ``create``: an empty warm table for the tools
    that cannot create one (same columns, primary key only)."""
    if engine == "pg":
        c = pg_connect()
        c.execute(f"DROP TABLE IF EXISTS {WARM_TABLE}")
        c.execute("DROP TABLE IF EXISTS public.warm_archive_ledger")
        if create:
            c.execute(f"CREATE TABLE {WARM_TABLE} ({PG_COLS})")
    else:
        cur = my_connect().cursor()
        cur.execute(f"DROP TABLE IF EXISTS {WARM_TABLE}")
        cur.execute(f"DROP TABLE IF EXISTS {MY_WARM_DB}.warm_archive_ledger")
        if create:
            cur.execute(f"CREATE TABLE {WARM_TABLE} ({MY_COLS}) {MY_TABLE_OPTIONS}")


def settle(max_wait_s: float = 10.0) -> None:
    """Let both servers finish the reset's background work before the clock starts: a
    PostgreSQL checkpoint; on MariaDB, the source table's dirty pages written out
    (``FLUSH TABLES ... FOR EXPORT``, which touches only that table) and the purge of the
    deleted rows' undo (history list) drained. InnoDB's own lazy flushing of other tables is
    left alone: the servers are shared."""
    pg = pg_connect()
    pg.execute("CHECKPOINT")
    my = my_connect()
    cur = my.cursor()
    cur.execute(f"FLUSH TABLES {SRC_TABLE} FOR EXPORT")
    cur.execute("UNLOCK TABLES")
    deadline = time.monotonic() + max_wait_s
    while time.monotonic() < deadline:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Innodb_history_list_length'")
        if int(cur.fetchone()[1]) < 5000:
            break
        time.sleep(0.5)
    time.sleep(0.5)


# -- what the servers say a run cost them and left behind (the scale report) -------------------


def wal_counters() -> tuple:
    """PostgreSQL's WAL and checkpoint counters now (pg_stat_wal, pg_stat_bgwriter)."""
    pg = pg_connect()
    w = pg.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone()
    b = pg.execute(
        "SELECT checkpoints_timed + checkpoints_req, buffers_backend, buffers_checkpoint FROM pg_stat_bgwriter"
    ).fetchone()
    return tuple(int(x) for x in (*w, *b))


def wal_delta(before: tuple | None) -> dict | None:
    """PostgreSQL's WAL written, full-page images, checkpoints and backend buffer writes since
    ``before`` (the whole server's: the bench is its only writer)."""
    if before is None:
        return None
    d = [y - x for x, y in zip(before, wal_counters(), strict=True)]
    return dict(
        zip(("records", "fpi", "bytes", "checkpoints", "buffers_backend", "buffers_checkpoint"), d, strict=True)
    )


def tables_left(src: str, dst: str) -> dict:
    """The source and warm tables' sizes on disk after a run, and the dead rows it left in a
    PostgreSQL table (its DELETE marks them; autovacuum, or the next reads of a page, reclaim
    them), counted by ``pgstattuple``: exact, a read of the whole table, before anything else
    reads it."""
    out: dict = {}
    for side, kind, table in (("source", src, SRC_TABLE), ("warm", dst, WARM_TABLE)):
        if kind == "pg":
            pg = pg_connect()
            pg.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
            size, dead = pg.execute(
                "SELECT pg_total_relation_size(%s::regclass), dead_tuple_count FROM pgstattuple(%s)", (table, table)
            ).fetchone()
            out[side] = {"mb": size / 1e6, "dead_rows": dead}
        else:  # the table's file (file-per-table): InnoDB's TABLES figures are estimates it updates lazily
            cur = my_connect().cursor()
            cur.execute(
                "SELECT file_size FROM information_schema.INNODB_SYS_TABLESPACES WHERE name = %s",
                (table.replace(".", "/"),),
            )
            (size,) = cur.fetchone()
            out[side] = {"mb": size / 1e6}
    return out
