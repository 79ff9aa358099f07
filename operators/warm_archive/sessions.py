"""The database connections of one table job: one to each side, and the extra lanes opened on demand."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from warm_archive.dialects import Dialect

log = logging.getLogger(__name__)


class Sessions:
    """``src`` and ``warm`` are the job's own connections; ``source_lanes``/``warm_lanes`` add
    more to the same databases (the second batch in flight, the verified delete's slices)."""

    def __init__(
        self,
        connect: Callable[[str], Dialect],
        source_conn_id: str,
        target_conn_id: str,
        check_stop: Callable[[], None],
    ):
        self._connect = connect
        self.source_conn_id, self.target_conn_id = source_conn_id, target_conn_id
        self._check_stop = check_stop
        self.src: Dialect = connect(source_conn_id)
        try:
            self.warm: Dialect = connect(target_conn_id)
        except BaseException:
            self.src.conn.close()
            raise
        self.source_extra: list[Dialect] = []  # more source connections (second batch, verified delete)
        self.warm_extra: list[Dialect] = []  # more warm connections (second batch, verified delete)

    @property
    def all(self) -> list[Dialect]:
        return [self.src, self.warm, *self.source_extra, *self.warm_extra]

    def source_lanes(self, wanted: int) -> list[Dialect]:
        """Up to ``wanted`` connections to the source, the job's own first; the others are opened
        on first use and kept for the job. One only where the source cannot take two writers at
        once (SQLite)."""
        return self._more(self.src, self.source_extra, self.source_conn_id, wanted)

    def warm_lanes(self, wanted: int) -> list[Dialect]:
        """The same for the warm database."""
        return self._more(self.warm, self.warm_extra, self.target_conn_id, wanted)

    def _more(self, first: Dialect, extra: list[Dialect], conn_id: str, wanted: int) -> list[Dialect]:
        if not first.serves_many:
            return [first]
        while len(extra) < wanted - 1:
            self._check_stop()
            extra.append(self._connect(conn_id))
        return [first, *extra[: wanted - 1]]

    def cancel(self) -> None:
        """Cancel the statement running on every connection (docs/design.md §4.8)."""
        for d in self.all:
            try:
                d.cancel()
            except Exception:
                log.debug("cancel failed", exc_info=True)

    def close(self) -> None:
        """Close every connection: rolls back what is open and frees the job's lock."""
        for d in self.all:
            try:
                d.conn.close()
                d.close_catalog()
            except Exception:
                pass


@contextmanager
def rolled_back_on_error(d: Dialect) -> Iterator[None]:
    """Roll back ``d``'s transaction when the block fails; the block's own error is raised."""
    try:
        yield
    except BaseException:
        try:
            d.conn.rollback()
        except Exception:  # noqa: BLE001 - the error that got us here matters more
            pass
        raise
