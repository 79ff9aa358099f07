"""A ``where`` condition must be one boolean expression that only reads what it may read.

It is parsed with sqlglot in the source engine's dialect and the statement runs with sqlglot's
re-rendering of the parsed tree, so what was checked is exactly what runs: a second statement, a
comment that swallows the rest, or unbalanced parentheses cannot reach the database.

Two levels, because the two authors are trusted differently:

* ``CONF`` (a run conf's ``where``: anyone allowed to trigger the DAG) may only read the source
  table's own row: its columns, literals, operators, CASE and the pure functions of ``PURE_FUNCS``.
  No subquery, no other table, no variable or parameter: the job runs with the warm archive's
  database account, which can read (and, through functions such as ``pg_read_file``, ``dblink_exec``
  or ``LOAD_FILE``, do) far more than the person triggering the run may.
* ``SPEC`` (a spec file's ``where``: DAG authors, who already run code) keeps subqueries, for
  parent/child archiving, but calls no function outside the same allow-list, anywhere in the tree:
  a spec is reviewed as data, not as code.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from warm_archive.errors import WarmArchiveError

SPEC = "spec"
CONF = "conf"
EVERY_ROW = "1=1"  # the checked condition of a job without one (JobPlan.src_where leaves it out of statements)

_FORBIDDEN = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Drop,
    exp.Create,
    exp.Command,
    exp.Alter,
    exp.Merge,
    exp.TruncateTable,
    exp.Into,
)

# Functions with no side effect that read nothing but their arguments (and the clock), as sqlglot's
# typed nodes. Exact classes: a subclass is a different function and must be listed to be allowed.
PURE_FUNCS: frozenset[type[exp.Func]] = frozenset(
    {
        # date and time: the clock, arithmetic, truncation, extraction, parsing, formatting
        exp.CurrentDate,
        exp.CurrentTimestamp,
        exp.CurrentTime,
        exp.CurrentDatetime,
        exp.Localtimestamp,
        exp.Localtime,
        exp.DateAdd,
        exp.DateSub,
        exp.DateDiff,
        exp.DateTrunc,
        exp.TimestampTrunc,
        exp.TimestampAdd,
        exp.TimestampSub,
        exp.TimestampDiff,
        exp.DatetimeAdd,
        exp.DatetimeSub,
        exp.DatetimeDiff,
        exp.DatetimeTrunc,
        exp.TimeAdd,
        exp.TimeSub,
        exp.TimeDiff,
        exp.TimeTrunc,
        exp.Extract,
        exp.Year,
        exp.Quarter,
        exp.Month,
        exp.Week,
        exp.WeekOfYear,
        exp.Day,
        exp.DayOfWeek,
        exp.DayOfWeekIso,
        exp.DayOfMonth,
        exp.DayOfYear,
        exp.Hour,
        exp.Minute,
        exp.Second,
        exp.Date,
        exp.Datetime,
        exp.Time,
        exp.TsOrDsToDate,
        exp.TsOrDsToTimestamp,
        exp.TsOrDsToTime,
        exp.TsOrDsAdd,
        exp.TsOrDsDiff,
        exp.StrToDate,
        exp.StrToTime,
        exp.TimeToStr,
        exp.TimeStrToTime,
        exp.TimeStrToDate,
        exp.DateStrToDate,
        exp.DateToDateStr,
        exp.UnixToTime,
        exp.TimeToUnix,
        exp.UnixToStr,
        exp.StrToUnix,
        exp.LastDay,
        exp.DateFromParts,
        exp.TimestampFromParts,
        exp.ToChar,
        exp.AddMonths,
        exp.MonthsBetween,
        exp.MakeInterval,
        # casts
        exp.Cast,
        exp.TryCast,
        # strings
        exp.Lower,
        exp.Upper,
        exp.Length,
        exp.Substring,
        exp.Trim,
        exp.Concat,
        exp.ConcatWs,
        exp.Left,
        exp.Right,
        exp.Replace,
        exp.StrPosition,
        exp.Initcap,
        exp.Pad,
        exp.Reverse,
        exp.RegexpLike,
        exp.RegexpILike,
        exp.Ascii,
        exp.Chr,
        exp.MD5,
        exp.StartsWith,
        exp.EndsWith,
        exp.ToNumber,
        # numbers
        exp.Abs,
        exp.Round,
        exp.Floor,
        exp.Ceil,
        exp.Sign,
        exp.Sqrt,
        exp.Cbrt,
        exp.Pow,
        exp.Ln,
        exp.Log,
        exp.Exp,
        exp.Trunc,
        exp.Greatest,
        exp.Least,
        # NULL handling, conditions, boolean operators sqlglot models as functions
        exp.Coalesce,
        exp.Nullif,
        exp.If,
        exp.Case,
        exp.Xor,
        # aggregates (only meaningful in a spec's subquery)
        exp.Max,
        exp.Min,
        exp.Count,
        exp.Sum,
        exp.Avg,
    }
)

# Functions sqlglot does not model (``exp.Anonymous``) that are pure built-ins on PostgreSQL or
# MariaDB. Lower case; only ever called unqualified (a schema-qualified call is refused).
PURE_NAMES: frozenset[str] = frozenset(
    {
        # PostgreSQL
        "now",
        "age",
        "date_part",
        "date_bin",
        "make_date",
        "make_time",
        "make_timestamp",
        "make_interval",
        "to_timestamp",
        "to_date",
        "to_char",
        "to_number",
        "justify_days",
        "justify_hours",
        "justify_interval",
        "isfinite",
        "btrim",
        "ltrim",
        "rtrim",
        "split_part",
        "char_length",
        "character_length",
        "octet_length",
        "strpos",
        "translate",
        "starts_with",
        "trunc",
        "div",
        "ceiling",
        "power",
        "log10",
        # MariaDB
        "curdate",
        "curtime",
        "current_date",
        "current_timestamp",
        "utc_date",
        "utc_timestamp",
        "datediff",
        "date_format",
        "time_format",
        "str_to_date",
        "to_days",
        "from_days",
        "unix_timestamp",
        "from_unixtime",
        "dayname",
        "monthname",
        "weekday",
        "yearweek",
        "dayofweek",
        "dayofmonth",
        "dayofyear",
        "period_add",
        "period_diff",
        "makedate",
        "maketime",
        "sec_to_time",
        "time_to_sec",
        "date_add",
        "date_sub",
        "timestampadd",
        "timestampdiff",
        "last_day",
        "microsecond",
        "locate",
        "instr",
        "substring_index",
        "lcase",
        "ucase",
        "mid",
        "truncate",
        "ifnull",
    }
)

# Date parts sqlglot keeps as ``exp.Var`` (INTERVAL '1' DAY, EXTRACT(YEAR FROM ...), DATE_TRUNC).
_DATE_PARTS = frozenset(
    {
        "year",
        "years",
        "quarter",
        "month",
        "months",
        "week",
        "weeks",
        "day",
        "days",
        "hour",
        "hours",
        "minute",
        "minutes",
        "second",
        "seconds",
        "millisecond",
        "milliseconds",
        "microsecond",
        "microseconds",
        "epoch",
        "dow",
        "doy",
        "isodow",
        "isoyear",
        "decade",
        "century",
        "millennium",
        "timezone",
        "timezone_hour",
        "timezone_minute",
        "year_month",
        "day_hour",
        "day_minute",
        "day_second",
        "day_microsecond",
        "hour_minute",
        "hour_second",
        "hour_microsecond",
        "minute_second",
        "minute_microsecond",
        "second_microsecond",
        "dayofweek",
        "dayofyear",
    }
)

# Operators and plain values a run-conf where may combine (besides PURE_FUNCS, the table's columns
# and date parts).
_CONF_NODES = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.Tuple,
    exp.Neg,
    exp.Not,
    exp.And,
    exp.Or,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.Escape,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.IntDiv,
    exp.Mod,
    exp.DPipe,
    exp.Interval,
    exp.AtTimeZone,
    exp.DataType,
    exp.DataTypeParam,
)
# Built-in types a run-conf where may cast to (no user-defined types, no regclass & co.).
_CONF_TYPES = (
    exp.DataType.TEXT_TYPES
    | exp.DataType.NUMERIC_TYPES
    | exp.DataType.TEMPORAL_TYPES
    | {exp.DataType.Type.BOOLEAN, exp.DataType.Type.INTERVAL}
)
# Unquoted, these read the session rather than a column on PostgreSQL.
_SESSION_WORDS = frozenset(
    {"user", "current_user", "session_user", "current_role", "current_catalog", "current_schema", "system_user"}
)
_FUNCS = "pure date/time, cast, string and numeric functions (COALESCE, NULLIF, LOWER, EXTRACT, CAST, ...)"
_ALLOWED = {
    CONF: (
        "only the source table's columns, literals, comparison/boolean/arithmetic operators, "
        f"IS/IN/BETWEEN/LIKE, CASE and {_FUNCS} are allowed"
    ),
    SPEC: f"only {_FUNCS} and MIN/MAX/COUNT/SUM/AVG are allowed",
}


def check_where(
    where: str | None, dialect: str | None, label: str = "where", *, level: str = SPEC, table: str | None = None
) -> str:
    """The condition as SQL for ``dialect``; raises a clear error for anything else.

    ``level`` is ``SPEC`` or ``CONF`` (see the module's docstring); ``table`` is the source table
    (``schema.name``) a ``CONF`` where may qualify its columns with (None: not checked here)."""
    if where is None or not str(where).strip():
        return EVERY_ROW
    text = str(where)
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except ParseError as e:
        first = e.errors[0]["description"] if e.errors else str(e)
        raise WarmArchiveError(f"{label} does not parse as SQL: {first}: {text!r}") from None
    except TokenError as e:  # an unterminated string, quoted name or comment
        raise WarmArchiveError(f"{label} does not parse as SQL: {e}: {text!r}") from None
    if len(statements) != 1:
        raise WarmArchiveError(f"{label} must be one boolean expression, found {len(statements)} statements: {text!r}")
    tree = statements[0]
    if isinstance(tree, exp.Query | exp.DDL | exp.DML) or not isinstance(tree, exp.Expression):
        raise WarmArchiveError(f"{label} must be a condition, not a statement: {text!r}")
    bad = next((n for n in tree.walk() if isinstance(n, _FORBIDDEN)), None)
    if bad is not None:
        raise WarmArchiveError(f"{label} may only read data, found {bad.key.upper()}: {text!r}")
    if (
        isinstance(tree, exp.Column | exp.Literal | exp.Star | exp.Alias | exp.Tuple | exp.Paren)
        and not (isinstance(tree, exp.Paren) and _is_boolean(tree.this))
        and not _is_boolean(tree)
    ):
        raise WarmArchiveError(f"{label} must be a boolean condition such as \"created_at < '2025-01-01'\": {text!r}")
    for node in tree.walk():
        why = _refusal(node, level, table, dialect)
        if why:
            raise WarmArchiveError(f"{label} may not {why}: {_ALLOWED[level]}: {text!r}")
    sql = tree.sql(dialect=dialect, comments=False)
    return EVERY_ROW if sql == "1 = 1" else sql  # "1=1, for every row" (the docs): no condition, as none


def check_conf_where(where: str | None, label: str = "run-conf where") -> None:
    """A run conf's where, checked before the source engine is known: it must pass the ``CONF``
    level in MariaDB's or PostgreSQL's dialect (the job checks it again in its source's)."""
    errors = []
    for dialect in ("mysql", "postgres"):
        try:
            check_where(where, dialect, label, level=CONF)
            return
        except WarmArchiveError as e:
            errors.append(str(e))
    # a refusal found in either dialect says more than the other one's parse error
    raise WarmArchiveError(next((m for m in errors if " may not " in m), errors[0]))


def _refusal(node: exp.Expr, level: str, table: str | None, dialect: str | None) -> str | None:
    """Why ``node`` is refused at ``level`` (a phrase after "may not"), or None."""
    if isinstance(node, exp.Parameter | exp.Placeholder | exp.SessionParameter):
        return f"use variables or parameters ({node.sql(dialect)})"
    if level == CONF and isinstance(node, exp.Query | exp.Subquery | exp.Exists):
        reads = sorted({t.sql(dialect) for t in node.find_all(exp.Table)})
        return f"use a subquery{' (it reads ' + ', '.join(reads) + ')' if reads else ''}"
    if level == CONF and isinstance(node, exp.Table):
        return f"read table {node.sql(dialect)}"
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        return f"call the schema-qualified function {_clip(node.sql(dialect))}"
    if isinstance(node, exp.Func) and not isinstance(node, exp.Connector | exp.Exists):
        if type(node) in PURE_FUNCS or (type(node) is exp.Anonymous and node.name.lower() in PURE_NAMES):
            return None
        if isinstance(node, exp.Collate):  # an operator sqlglot models as a function
            return None if level == SPEC else "use COLLATE"
        return f"call {_func_name(node)}()"
    if level != CONF:
        return None
    if isinstance(node, exp.Var):
        if node.name.lower() in _DATE_PARTS and not isinstance(node.parent, exp.Parameter):
            return None
        return f"use {node.sql(dialect)}"
    if isinstance(node, exp.Column):
        return _column_refusal(node, table, dialect)
    if isinstance(node, exp.DataType):
        if node.this in _CONF_TYPES:
            return None
        return f"cast to {node.sql(dialect)}"
    if isinstance(node, _CONF_NODES):
        return None
    return f"use {node.key.upper()} ({_clip(node.sql(dialect))})"


def _column_refusal(col: exp.Column, table: str | None, dialect: str | None) -> str | None:
    ident = col.this
    if not isinstance(ident, exp.Identifier):  # t.* and the like
        return f"use {col.sql(dialect)}"
    if not col.table:
        if not ident.quoted and ident.name.lower() in _SESSION_WORDS:
            return f"read {ident.name} (a session value; quote it if it is a column)"
        return None
    if table is None:  # checked again once the source table is known
        return None if not col.catalog else f"read {col.sql(dialect)} (not a column of the source table)"
    schema, _, name = table.rpartition(".")
    same = col.table.lower() == name.lower() and (not col.db or col.db.lower() == schema.lower())
    if col.catalog or not same:
        return f"read {col.sql(dialect)} (not a column of {table})"
    return None


def _func_name(node: exp.Func) -> str:
    return node.name if isinstance(node, exp.Anonymous) else node.sql_name().lower()


def _clip(sql: str, n: int = 60) -> str:
    return sql if len(sql) <= n else sql[: n - 3] + "..."


def _is_boolean(node: exp.Expression) -> bool:
    return isinstance(
        node, exp.Predicate | exp.Connector | exp.Not | exp.Boolean | exp.Exists | exp.In | exp.Between | exp.Is
    )
