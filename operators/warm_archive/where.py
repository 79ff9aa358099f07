"""A ``where`` condition must be one boolean expression, nothing more.

It is parsed with sqlglot in the source engine's dialect and the statement runs with sqlglot's
re-rendering of the parsed tree, so what was checked is exactly what runs: a second statement, a
comment that swallows the rest, or unbalanced parentheses cannot reach the database.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from warm_archive.errors import WarmArchiveError

_FORBIDDEN = (
    exp.Insert, exp.Update, exp.Delete, exp.Drop, exp.Create, exp.Command, exp.Alter,
    exp.Merge, exp.TruncateTable, exp.Into,
)


def check_where(where: str | None, dialect: str | None, label: str = "where") -> str:
    """The condition as SQL for ``dialect``; raises a clear error for anything else."""
    if where is None or not str(where).strip():
        return "1=1"
    text = str(where)
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except ParseError as e:
        first = e.errors[0]["description"] if e.errors else str(e)
        raise WarmArchiveError(f"{label} does not parse as SQL: {first}: {text!r}") from None
    except TokenError as e:  # an unterminated string, quoted name or comment
        raise WarmArchiveError(f"{label} does not parse as SQL: {e}: {text!r}") from None
    if len(statements) != 1:
        raise WarmArchiveError(
            f"{label} must be one boolean expression, found {len(statements)} statements: {text!r}"
        )
    tree = statements[0]
    if isinstance(tree, exp.Query | exp.DDL | exp.DML) or not isinstance(tree, exp.Expression):
        raise WarmArchiveError(f"{label} must be a condition, not a statement: {text!r}")
    bad = next((n for n in tree.walk() if isinstance(n, _FORBIDDEN)), None)
    if bad is not None:
        raise WarmArchiveError(f"{label} may only read data, found {bad.key.upper()}: {text!r}")
    if isinstance(tree, exp.Column | exp.Literal | exp.Star | exp.Alias | exp.Tuple | exp.Paren) and not (
        isinstance(tree, exp.Paren) and _is_boolean(tree.this)
    ) and not _is_boolean(tree):
        raise WarmArchiveError(f"{label} must be a boolean condition such as \"created_at < '2025-01-01'\": {text!r}")
    return tree.sql(dialect=dialect, comments=False)


def _is_boolean(node) -> bool:
    return isinstance(node, exp.Predicate | exp.Connector | exp.Not | exp.Boolean | exp.Exists | exp.In | exp.Between | exp.Is)
