"""Judging a dense slice of integer keys whole, without a per-row value in Python (docs/adr/0002).

Across engines, where every column has a canonical text and the key is one integer column, a
slice whose keys are one run of consecutive integers is judged in one step before any row is
read: ``DigestBlob`` (a PostgreSQL source deletes the rows whose digest matches the warm one at
their position, in one statement) or ``SliceDigest`` (one digest of the whole slice a side). A
slice they cannot judge whole goes row by row (``slice_reads.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

from warm_archive.dialects import GROUP_CONCAT_MAX, Dialect
from warm_archive.plan import JobPlan, condition
from warm_archive.slice_reads import Canon
from warm_archive.sqlstats import SqlStats
from warm_archive.values import int_runs


def _dense_slice_row(stats: SqlStats, d: Dialect, sql: str, part: Sequence[tuple]) -> tuple | None:
    """The one row ``sql`` returns for a slice whose keys are one run of consecutive integers
    (bound to its first and last key); None, unread, for a slice with gaps."""
    runs = int_runs(part)
    if not runs or len(runs) != 1:
        return None
    cur = d.conn.cursor()
    stats.execute(cur, sql, list(runs[0]))
    row = cur.fetchone()
    cur.close()
    return row


class DigestBlob:
    """The verified delete of a dense slice of integer keys in one statement on the source.

    The warm server returns the slice's digests as one string, 16 bytes per key in key order;
    when it holds every key of the slice, the source deletes the rows whose own digest equals the
    one at their key's position (each row locked as it is judged, and judged on its current
    content), and only the keys it left are read back: they differ. No per-row value crosses
    the wire or becomes a Python object, and the source skips a separate locking read: on
    PostgreSQL that read writes a lock into every row the DELETE then writes again."""

    def __init__(self, stats: SqlStats, warm_sql: str, delete_sql: str, left_sql: str):
        self.stats, self.warm_sql, self.delete_sql, self.left_sql = stats, warm_sql, delete_sql, left_sql

    @classmethod
    def for_job(
        cls, plan: JobPlan, src: Dialect, warm: Dialect, stats: SqlStats, canon: Canon, where_sql: str
    ) -> DigestBlob | None:
        """Where the source can judge rows by position and the warm side can aggregate, every
        column is in the digest (none compared in Python) and the key is one integer column."""
        if not (plan.int_key and all(canon)):
            return None
        ks, kw = src.quote(plan.key[0]), warm.quote(plan.key[0])
        t, ph = src.table(plan.source_table), src.placeholder
        agg = warm.digest_blob(warm.canon_hash([(pl[1], *pl[2:]) for pl in canon if pl]), kw)
        judge = src.delete_by_digest_blob(t, ks, src.canon_hash([(pl[0], *pl[2:]) for pl in canon if pl]), ph)
        if agg is None or judge is None:
            return None
        in_slice = f"{ks} >= {ph} AND {ks} <= {ph}{f' AND {c}' if (c := condition(src, where_sql)) else ''}"
        return cls(
            stats,
            f"SELECT COUNT(*), {agg} FROM {warm.table(plan.target_table)} "
            f"WHERE {kw} >= {warm.placeholder} AND {kw} <= {warm.placeholder}",
            f"DELETE FROM {t} WHERE {in_slice} AND {judge}",
            f"SELECT {ks} FROM {t} WHERE {in_slice}",
        )

    def warm(self, d: Dialect, part: Sequence[tuple]) -> bytes | None:
        """The slice's warm digests, or None when the slice has gaps or the warm table lacks some
        of its keys (then the slice is compared row by row)."""
        row = _dense_slice_row(self.stats, d, self.warm_sql, part)
        if row is None:
            return None
        n, digests = row
        if n != len(part) or digests is None or len(digests) != 16 * n:  # (a truncated aggregate too)
            return None
        return bytes(digests)

    def delete(self, d: Dialect, part: Sequence[tuple], digests: bytes) -> tuple[int, list]:
        """Delete the slice's equal rows; (deleted, the keys of the rows still there)."""
        lo, hi = part[0][0], part[-1][0]
        cur = d.conn.cursor()
        self.stats.execute(cur, self.delete_sql, [lo, hi, digests, lo])
        deleted = cur.rowcount
        left: list = []
        if deleted < len(part):
            self.stats.execute(cur, self.left_sql, [lo, hi])
            left = [tuple(r) for r in cur.fetchall()]
        cur.close()
        return deleted, left


class SliceDigest:
    """The verified delete of a dense slice of integer keys with one digest a side, where the
    source reads its rows under lock (MySQL; a PostgreSQL source judges rows in its DELETE).

    Each server digests the canonical texts of the slice's rows joined in key order (a long text
    or bytes value enters as its own MD5, so that a slice's text stays small): the warm one in a
    plain read, the source one in a locking read. The same count (every key of the slice, so no
    other) and the same digest mean equal rows: the slice is deleted by its keys, and no per-row
    value crosses the wire or becomes a Python object. Else the slice is compared row by row."""

    LONG = 1024  # bytes of a field that enters the slice's text as it is

    def __init__(self, stats: SqlStats, warm_sql: str, source_sql: str):
        self.stats, self.warm_sql, self.source_sql = stats, warm_sql, source_sql

    @classmethod
    def for_job(
        cls, plan: JobPlan, src: Dialect, warm: Dialect, stats: SqlStats, canon: Canon, where_sql: str
    ) -> SliceDigest | None:
        if not (plan.int_key and all(canon)):
            return None
        ks, kw = src.quote(plan.key[0]), warm.quote(plan.key[0])
        text = {
            d: d.text_agg(d.canon_text([(pl[side], *pl[2:]) for pl in canon if pl], cls.LONG), k)
            for d, side, k in ((src, 0, ks), (warm, 1, kw))
        }
        # the warm text's length tells whether the source's (equal) text fits a MySQL GROUP_CONCAT
        return cls(
            stats,
            f"SELECT n, md5(t), {warm.canon_len('t')} FROM (SELECT COUNT(*) AS n, {text[warm]} AS t "
            f"FROM {warm.table(plan.target_table)} WHERE {kw} >= {warm.placeholder} AND {kw} <= {warm.placeholder}) s",
            f"SELECT COUNT(*), md5({text[src]}) FROM {src.table(plan.source_table)} "
            f"WHERE {ks} >= {src.placeholder} AND {ks} <= {src.placeholder}"
            f"{f' AND {c}' if (c := condition(src, where_sql)) else ''}"
            f"{src.for_update()}",
        )

    def warm(self, d: Dialect, part: Sequence[tuple]) -> tuple | None:
        """(count, digest) of the slice's warm rows, or None when the slice has gaps, the warm
        table lacks some of its keys or the text is too long (then it is compared row by row)."""
        row = _dense_slice_row(self.stats, d, self.warm_sql, part)
        if row is None or row[0] != len(part) or int(row[2]) >= GROUP_CONCAT_MAX:
            return None
        return row[0], row[1]

    def source(self, d: Dialect, part: Sequence[tuple]) -> tuple:
        """(count, digest) of the rows of a slice ``warm`` found dense that still match the
        condition, locked."""
        cur = d.conn.cursor()
        self.stats.execute(cur, self.source_sql, [part[0][0], part[-1][0]])
        row = cur.fetchone()
        cur.close()
        return tuple(row)
