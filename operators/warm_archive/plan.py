"""A table job's plan: its inputs checked against the real databases, as one frozen, typed value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from warm_archive import defaults, typemap
from warm_archive.contract import StatementKind
from warm_archive.dberrors import db_message
from warm_archive.dialects import Dialect
from warm_archive.errors import WarmArchiveError
from warm_archive.replicas import LoadLimits
from warm_archive.sqlstats import SqlStats
from warm_archive.typemap import Column
from warm_archive.where import CONF, EVERY_ROW, SPEC, check_where

INT_TYPES = ("smallint", "int", "bigint")
MIN_STATEMENT_S, MAX_STATEMENT_S = 0.01, 3600.0  # the bounds of max_statement_seconds


@dataclass
class JobParams:
    """What a table job is asked to do (the operator's arguments and run conf, or a ledger header).
    The caller's to build; the job never changes it, and reads it only through ``make_plan``."""

    dag_id: str
    run_id: str
    task_id: str
    source_conn_id: str
    source_table: str
    target_conn_id: str
    target_table: str
    key: list[str]
    where: str | None = None
    where_from_conf: bool = False  # the run conf's where (anyone who may trigger): checked strictly
    strategy: str = defaults.STRATEGY
    batch_size: int = defaults.BATCH_SIZE
    on_conflict: str = defaults.ON_CONFLICT
    max_rows_per_second: float | None = defaults.MAX_ROWS_PER_SECOND
    max_statement_seconds: float = defaults.MAX_STATEMENT_S  # the walk's bound (walk.py)
    dry_run: bool = False
    lock_timeout_s: float = defaults.LOCK_TIMEOUT_S
    limits: LoadLimits = field(default_factory=LoadLimits)  # replica lag and source load (pacing.py)
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class JobPlan:
    """Everything the copy, the verified delete and the rollback need to know about a job."""

    dag_id: str
    run_id: str
    task_id: str
    source_table: str
    target_table: str
    key: tuple[str, ...]
    where_sql: str  # the checked condition ("1=1" for none)
    strategy: str
    on_conflict: str
    batch_size: int
    max_rows_per_second: float | None
    dry_run: bool
    columns: tuple[str, ...]  # the source's, in its order
    src_cols: tuple[Column, ...]  # in ``columns`` order
    warm_cols: tuple[Column, ...]  # the warm table's, same order (empty while it does not exist)
    key_index: str | None  # the source index batch key reads walk (MySQL)
    int_key: bool  # the key is one integer column
    same_types: bool  # same engine and identical column types on both sides
    same_db: bool  # hot and warm tables in one database: the one-transaction fast path (§4.7)
    passthrough: str | None  # SQL of one source row in the warm engine's text form (§4.7)
    load_data: bool = False  # that form is LOAD DATA's, written with LOAD DATA LOCAL (MySQL target)
    max_statement_seconds: float = defaults.MAX_STATEMENT_S  # the walk's steps aim under it (walk.py)
    planned_hi: list | None = None  # the last key of the range the run walks (walk.key_ends)

    @property
    def key_positions(self) -> list[int]:
        """Where the key columns stand in ``columns``."""
        return [self.columns.index(k) for k in self.key]

    def src_where(self, d: Dialect) -> str:
        """The condition as a parenthesised SQL fragment for ``d``'s driver; empty for a job
        without one (``dialects.base.where`` leaves it out of the statement)."""
        return condition(d, self.where_sql)

    def streams(self, src: Dialect, warm: Dialect) -> bool:
        """Rows go from server to server without being decoded here (COPY, or passthrough text)."""
        return (src.name == "postgres" and warm.name == "postgres") or self.passthrough is not None

    def counted(self, key_range: list | None) -> JobPlan:
        """This plan bounded by the key range the run walks (the key reads stop at its end)."""
        return replace(self, planned_hi=key_range[1] if key_range else None)


def condition(d: Dialect, where_sql: str | None) -> str:
    """A checked condition (a job's, or a batch's from the ledger) as a parenthesised SQL fragment
    for ``d``'s driver; empty for none (every row): no ``1=1`` in a statement a DBA reads."""
    return "" if not where_sql or where_sql == EVERY_ROW else f"({d.escape_percent(where_sql)})"


def make_plan(
    p: JobParams, src: Dialect, warm: Dialect, stats: SqlStats, *, create_target: bool, check_stop: Callable[[], None]
) -> JobPlan:
    """Check every input against the real databases before any row moves; create the warm table
    (``create_target``, not on a dry run) when it does not exist yet."""
    m = p.max_statement_seconds
    if isinstance(m, bool) or not isinstance(m, int | float) or not MIN_STATEMENT_S <= m <= MAX_STATEMENT_S:
        raise WarmArchiveError(
            f"max_statement_seconds must be from {MIN_STATEMENT_S} to {MAX_STATEMENT_S:.0f} seconds, "
            f"not {p.max_statement_seconds!r}"
        )
    src_cols = src.columns(p.source_table)
    if not src_cols:
        raise WarmArchiveError(f"source table {p.source_table!r} does not exist on connection {p.source_conn_id!r}")
    names = [c.name for c in src_cols]
    by_name = {c.name: c for c in src_cols}
    missing = [k for k in p.key if k not in by_name]
    if missing:
        raise WarmArchiveError(f"key column(s) {missing} not in {p.source_table}; its columns are {names}")
    if set(p.key) not in src.unique_keys(p.source_table):
        raise WarmArchiveError(
            f"key {p.key} is not unique on {p.source_table}: no primary key or unique index on exactly these columns"
        )
    key_index = src.key_index(p.source_table, p.key)
    int_key = len(p.key) == 1 and by_name[p.key[0]].canonical[0] in INT_TYPES
    if p.where_from_conf:
        where_sql = check_where(
            p.where, src.sqlglot, f"run-conf where for job {p.task_id}", level=CONF, table=p.source_table
        )
    else:
        where_sql = check_where(p.where, src.sqlglot, f"where for job {p.task_id}", level=SPEC)
    _probe_where(src, p.source_table, where_sql, stats, check_stop)
    nullable = [k for k in p.key if by_name[k].nullable]
    if nullable:
        cond = " OR ".join(f"{src.quote(k)} IS NULL" for k in nullable)
        cur = src.conn.cursor()
        stats.execute(cur, f"SELECT 1 FROM {src.table(p.source_table)} WHERE {cond} LIMIT 1", kind=StatementKind.CHECK)
        if cur.fetchall():
            raise WarmArchiveError(f"key column(s) {nullable} of {p.source_table} hold NULLs")
        src.conn.commit()

    same_types = False
    warm_cols: list[Column] = []
    tgt_cols = warm.columns(p.target_table)
    existed = bool(tgt_cols)
    if not tgt_cols:
        if src.name != warm.name:
            bad = [f"{c.name} ({c.native_type})" for c in src_cols if c.canonical[0] == "unmappable"]
            if bad:
                raise WarmArchiveError(
                    f"cannot create {p.target_table} on {warm.name}: no faithful type for {', '.join(bad)}"
                )
        if create_target and not p.dry_run:
            warm.create_table(p.target_table, src_cols, p.key, src.name)
            tgt_cols = warm.columns(p.target_table)
        same_types = src.name == warm.name
    if tgt_cols:
        fold = (lambda s: s.lower()) if warm.name != "postgres" or src.name != "postgres" else str
        tgt = {fold(c.name): c for c in tgt_cols}
        absent = [n for n in names if fold(n) not in tgt]
        extra = [
            c.name
            for c in tgt_cols
            if c.name not in {fold(n) for n in names} and fold(c.name) not in {fold(n) for n in names}
        ]
        if absent or extra:
            raise WarmArchiveError(
                f"target table {p.target_table} does not match source {p.source_table}: "
                f"missing columns {absent}, extra columns {extra}"
            )
        if {fold(k) for k in p.key} not in [{fold(c) for c in u} for u in warm.unique_keys(p.target_table)]:
            raise WarmArchiveError(f"target table {p.target_table} has no primary key or unique index on {p.key}")
        same_types = src.name == warm.name and all(tgt[fold(c.name)].native_type == c.native_type for c in src_cols)
        warm_cols = [tgt[fold(n)] for n in names]
        if existed:  # a column that rounds or cuts values: refused by name, before a row moves
            typemap.check_target_holds(src_cols, warm_cols, src.name, warm.name, p.target_table)
    # Across PostgreSQL and MySQL: rows leave the source already in the text form the warm
    # engine ingests (COPY text lines / SQL literals), never decoded in Python (§4.7).
    # LOAD DATA LOCAL where the warm connection allows it (not in a dry run, which records its
    # writes instead of running them: it shows them as the INSERT of literals they stand for).
    fast = src.name != warm.name and warm.load_local and not p.dry_run
    load_data = src.load_data_row(src_cols, warm) if fast else None
    passthrough = load_data or (src.passthrough_row(src_cols, warm) if src.name != warm.name else None)
    # Hot and warm tables in one database: a batch never leaves the server, and its rows,
    # its ledger row and (move) its source delete commit in ONE transaction.
    same_db = src.location is not None and src.location == warm.location and src.name in ("postgres", "mysql")
    return JobPlan(
        dag_id=p.dag_id,
        run_id=p.run_id,
        task_id=p.task_id,
        source_table=p.source_table,
        target_table=p.target_table,
        key=tuple(p.key),
        where_sql=where_sql,
        strategy=p.strategy,
        on_conflict=p.on_conflict,
        batch_size=p.batch_size,
        max_rows_per_second=p.max_rows_per_second,
        max_statement_seconds=float(p.max_statement_seconds),
        dry_run=p.dry_run,
        columns=tuple(names),
        src_cols=tuple(src_cols),
        warm_cols=tuple(warm_cols),
        key_index=key_index,
        int_key=int_key,
        same_types=same_types,
        same_db=same_db,
        passthrough=passthrough,
        load_data=load_data is not None,
    )


def _probe_where(src: Dialect, table: str, where_sql: str, stats: SqlStats, check_stop: Callable[[], None]) -> None:
    """Let the source judge the condition (unknown columns, types) before anything is created
    (a check, not the run's work; no condition, nothing to judge)."""
    if where_sql == EVERY_ROW:
        return
    cur = src.conn.cursor()
    try:
        stats.execute(
            cur,
            f"SELECT 1 FROM {src.table(table)} WHERE ({src.escape_percent(where_sql)}) LIMIT 0",
            kind=StatementKind.CHECK,
        )
        cur.fetchall()
        src.conn.commit()
    except Exception as e:
        src.conn.rollback()
        check_stop()
        raise WarmArchiveError(f"the where condition fails on {table}: {db_message(e)}") from None
