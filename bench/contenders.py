"""The contenders: what each one runs, on which pair of engines, and what it must leave behind.

Every contender archives the same rows (``created_at`` older than the cut-off, about two thirds)
from ``bench_src.orders`` into ``bench_warm.orders`` and, except the ``copy`` strategy, removes
them from the source. ``argv`` builds the command of one run; the driver resets the tables,
settles the servers, runs it as a child process and checks the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench import pipes
from bench.config import CONN_IDS, MY_HOST, MY_PORT, MY_USER, PAIR_LABEL, PAIRS, PYTHON, SRC_TABLE, WARM_TABLE

STRATEGIES = ["copy_then_delete", "move", "copy"]


@dataclass
class Contender:
    id: str  # e.g. engine.copy_then_delete.pgpg
    family: str  # engine | gt | pt | limit (the native pipe of the pair) | pgloader
    variant: str  # strategy or settings
    pair: str  # pgpg | mymy | mypg | pgmy
    label: str
    deletes: bool = True  # the source rows are gone afterwards
    needs_table: bool = True  # the warm table must exist before the run
    python: bool = False  # reports its own timing (start-up and imports excluded)
    capped: bool = False  # too slow for N: archives only the first ``--slow-cap`` old rows

    @property
    def src(self) -> str:
        return self.pair[:2]

    @property
    def dst(self) -> str:
        return self.pair[2:]

    def argv(self, where: str, run_id: str, batch_size: int, pacing: str = "auto") -> list[str]:
        """The command of one run; ``pacing``: the table job's (its default, auto, or off)."""
        if self.family == "engine":
            params = dict(
                dag_id="bench",
                run_id=run_id,
                task_id="orders",
                source_conn_id=CONN_IDS[self.src],
                source_table=SRC_TABLE,
                target_conn_id=CONN_IDS[self.dst],
                target_table=WARM_TABLE,
                key=["id"],
                where=where,
                strategy=self.variant,
                batch_size=batch_size,
                on_conflict="skip",
            )
            if pacing != "auto":
                params["limits"] = {"pacing": pacing}
            return [PYTHON, "-m", "bench.job_engine", json.dumps(params)]
        if self.family == "gt":
            params = dict(
                source_conn_id=CONN_IDS[self.src],
                destination_conn_id=CONN_IDS[self.dst],
                source_table=SRC_TABLE,
                destination_table=WARM_TABLE,
                where=where,
                mode=self.variant,
            )
            return [PYTHON, "-m", "bench.job_gt", json.dumps(params)]
        if self.family == "pt":
            # A=binary + --no-check-charset: the rows pass as bytes, unchanged. With A=utf8mb4
            # pt-archiver decodes them and its --bulk-insert file, opened with an encoding Perl
            # does not know (utf8mb4), dies on the first 4-byte character ("Wide character").
            dsn = f"h={MY_HOST},P={MY_PORT},u={MY_USER},A=binary,L=1"
            argv = [
                "pt-archiver",
                "--no-check-charset",
                "--source",
                f"{dsn},D=bench_src,t=orders",
                "--dest",
                f"{dsn},D=bench_warm,t=orders",
                "--where",
                where,
            ]
            if self.variant == "bulk":
                argv += ["--limit", "1000", "--bulk-insert", "--bulk-delete", "--commit-each"]
            return argv
        if self.family == "limit":
            return ["bash", "-c", "set -eo pipefail; " + pipes.native_pipe(self.pair, where)]
        if self.family == "pgloader":
            return ["bash", "-c", "set -eo pipefail; " + pipes.pgloader(where)]
        raise ValueError(self.id)


def all_contenders() -> list[Contender]:
    out: list[Contender] = []
    for pair in PAIRS:
        for s in STRATEGIES:
            out.append(
                Contender(
                    f"engine.{s}.{pair}",
                    "engine",
                    s,
                    pair,
                    f"table job {s}",
                    deletes=s != "copy",
                    needs_table=False,
                    python=True,
                )
            )
        for mode in ("default", "best"):
            out.append(
                Contender(f"gt.{mode}.{pair}", "gt", mode, pair, f"GenericTransfer {mode} + DELETE", python=True)
            )
        if pair == "mymy":
            out.append(Contender("pt.default.mymy", "pt", "default", pair, "pt-archiver defaults", capped=True))
            out.append(Contender("pt.bulk.mymy", "pt", "bulk", pair, "pt-archiver bulk"))
            out.append(Contender("limit.mymy", "limit", "insert_select", pair, "limit: INSERT ... SELECT + DELETE"))
        if pair == "pgpg":
            out.append(Contender("limit.pgpg", "limit", "copy_pipe", pair, "limit: psql COPY | psql COPY + DELETE"))
        if pair == "mypg":
            out.append(Contender("limit.mypg", "limit", "pipe", pair, "limit: mariadb | psql COPY + DELETE"))
            out.append(Contender("pgloader.fast.mypg", "pgloader", "fast", pair, "pgloader (fast settings) + DELETE"))
        if pair == "pgmy":
            out.append(Contender("limit.pgmy", "limit", "pipe", pair, "limit: psql COPY | LOAD DATA + DELETE"))
    return out


def select(contenders: list[Contender], only: str | None) -> list[Contender]:
    """``--only``: comma-separated terms; a contender is kept when its id contains every dot-part
    of one term (``pgpg``, ``engine``, ``engine.move``, ``gt.best.mypg``, ``pt``, ``limit``,
    ``pgloader``)."""
    if not only:
        return contenders
    terms = [t.strip() for t in only.split(",") if t.strip()]
    keep = []
    for c in contenders:
        parts = c.id.split(".")
        if any(all(p in parts for p in t.split(".")) for t in terms):
            keep.append(c)
    return keep


def pair_label(pair: str) -> str:
    return PAIR_LABEL[pair]
