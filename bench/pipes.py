"""The moves a DBA would make by hand, as shell commands: the native pipe of each pair and pgloader.

These are the limits the table job is held to (``limit.<pair>``): no verification, the fastest
client tools each engine ships, then one ``DELETE`` of the archived rows. Their escaping must be
right, since the driver checks their result with the same content checksum as every contender:
- PG->PG: ``psql COPY (SELECT ...) TO STDOUT | psql COPY ... FROM STDIN``;
- MariaDB->MariaDB: ``INSERT ... SELECT`` on the one server;
- MariaDB->PG: ``mariadb --quick --raw`` printing each row as a ``COPY`` text line (the free texts'
  backslash, tab, newline and CR escaped, NULL as ``\\N``) into ``psql COPY ... FROM STDIN``;
- PG->MariaDB: ``psql COPY (SELECT ...) TO STDOUT`` into ``LOAD DATA LOCAL INFILE '/dev/stdin'``
  (PostgreSQL's text format is what ``LOAD DATA``'s defaults read: tab-separated, backslash
  escapes, ``\\N`` for NULL).
Both cross-engine pipes force UTF-8 (``utf8mb4``) on each side.

``pgloader`` is what users pick for MariaDB->PostgreSQL: ``data only`` into the existing warm
table, the archived rows through a view it materializes (``MATERIALIZE VIEWS``), its throughput
settings raised (4 workers, 2 concurrent writers, batches of 25,000 rows), then the same DELETE.
"""

from __future__ import annotations

import shlex

from bench.config import MY_HOST, MY_PORT, MY_USER, PG_DB, PG_HOST, PG_PORT, PG_USER, RESULTS, SRC_TABLE, WARM_TABLE

PSQL = "PGCLIENTENCODING=UTF8 psql -X -q -v ON_ERROR_STOP=1 -c"
MARIADB = f"mariadb -h{MY_HOST} -P{MY_PORT} -u{MY_USER} --default-character-set=utf8mb4"
COLUMNS = ["id", "created_at", "customer_id", "amount", "status", "note", "coupon", "shipped_at"]
TEXTS = {"status", "note", "coupon"}  # the free texts: the only columns that can hold \, tab, LF, CR
VIEW = "orders_archived"  # pgloader's materialized view, in bench_src


def _my_copy_text(col: str) -> str:
    """One column as PostgreSQL ``COPY`` text, computed by MariaDB (NULL as ``\\N``)."""
    e = col
    if col in TEXTS:
        for raw, esc in (("\\\\", "\\\\\\\\"), ("\\t", "\\\\t"), ("\\n", "\\\\n"), ("\\r", "\\\\r")):
            e = f"REPLACE({e}, '{raw}', '{esc}')"
    return f"COALESCE({e}, '\\\\N')"


def native_pipe(pair: str, where: str) -> str:
    """The shell pipeline of ``pair``'s limit (run under ``bash -c 'set -eo pipefail; ...'``)."""
    pg_delete = f"{PSQL} {shlex.quote(f'DELETE FROM {SRC_TABLE} WHERE {where}')}"
    my_delete = f"{MARIADB} -e {shlex.quote(f'DELETE FROM {SRC_TABLE} WHERE {where}')}"
    if pair == "pgpg":
        out = shlex.quote(f"COPY (SELECT * FROM {SRC_TABLE} WHERE {where}) TO STDOUT")
        inn = shlex.quote(f"COPY {WARM_TABLE} FROM STDIN")
        return f"{PSQL} {out} | {PSQL} {inn}; {pg_delete}"
    if pair == "mymy":
        sql = (
            f"INSERT INTO {WARM_TABLE} SELECT * FROM {SRC_TABLE} WHERE {where}; DELETE FROM {SRC_TABLE} WHERE {where};"
        )
        return f"{MARIADB} -e {shlex.quote(sql)}"
    if pair == "mypg":
        line = "CONCAT_WS('\\t', " + ", ".join(_my_copy_text(c) for c in COLUMNS) + ")"
        select = f"SELECT {line} FROM {SRC_TABLE} WHERE {where}"
        inn = shlex.quote(f"COPY {WARM_TABLE} FROM STDIN")
        return (
            f"{MARIADB} --quick --raw --batch --skip-column-names -e {shlex.quote(select)} | {PSQL} {inn}; {my_delete}"
        )
    if pair == "pgmy":
        out = shlex.quote(f"COPY (SELECT * FROM {SRC_TABLE} WHERE {where}) TO STDOUT")
        load = (
            f"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE {WARM_TABLE} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"
        )
        return f"{PSQL} {out} | {MARIADB} --local-infile=1 -e {shlex.quote(load)}; {pg_delete}"
    raise ValueError(pair)


# pgloader's settings in the bench; `python -m bench.pgloader_sweep` finds the fastest on a
# machine, so that the job is compared with pgloader at its best (bench/HISTORY.md).
PGLOADER_SETTINGS = {"workers": 4, "concurrency": 2, "batch rows": 25000, "prefetch rows": 50000}


def pgloader(where: str, settings: dict | None = None) -> str:
    """pgloader MariaDB->PostgreSQL of the archived rows into the existing warm table, then the
    DELETE; its command file and logs go under ``bench/results/pgloader``. ``settings``: its
    ``WITH`` options (default ``PGLOADER_SETTINGS``)."""
    d = RESULTS / "pgloader"
    d.mkdir(parents=True, exist_ok=True)
    src_db, table = SRC_TABLE.split(".")
    warm_schema = WARM_TABLE.split(".")[0]
    load = d / "archive.load"
    with_ = ", ".join(f"{k} = {v}" for k, v in (settings or PGLOADER_SETTINGS).items())
    load.write_text(
        f"""LOAD DATABASE
  FROM mysql://{MY_USER}@{MY_HOST}:{MY_PORT}/{src_db}
  INTO postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DB}?sslmode=disable
WITH data only, {with_}, batch size = 64 MB, on error stop
SET PostgreSQL PARAMETERS client_encoding TO 'UTF8'
MATERIALIZE VIEWS {VIEW} AS $$ SELECT * FROM {table} WHERE {where} $$
INCLUDING ONLY TABLE NAMES MATCHING '{VIEW}'
ALTER TABLE NAMES MATCHING '{VIEW}' RENAME TO '{table}'
ALTER SCHEMA '{src_db}' RENAME TO '{warm_schema}';
"""
    )
    my_delete = f"{MARIADB} -e {shlex.quote(f'DELETE FROM {SRC_TABLE} WHERE {where}')}"
    return f"pgloader --quiet --on-error-stop --root-dir {shlex.quote(str(d))} {shlex.quote(str(load))}; {my_delete}"
