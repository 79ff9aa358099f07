"""The figures the fault and abuse suite prints at the end (see tests/conftest.py, pytest_terminal_summary).

Counters live in this one module, shared by tests/faults and tests/abuse. Each scenario records
itself as *tried* before it acts and *survived* only once every check passed, so a failing scenario
shows up as tried-not-survived; rows lost / duplicated are counted before the assertions fire.
"""

from __future__ import annotations

from collections import Counter

counts: Counter = Counter()
lost_keys: list = []
dup_keys: list = []
printed = False


class scenario:
    """``with tally.scenario("fault"): ...`` counts one tried and, if the block passes, one survived."""

    def __init__(self, kind: str):
        self.kind = kind  # "kill" | "fault"

    def __enter__(self):
        counts[f"{self.kind}_tried"] += 1
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            counts[f"{self.kind}_survived"] += 1
        return False


def bad_inputs(n: int = 1) -> None:
    counts["bad_inputs"] += n


ATTACKS = {
    "maintenance": "maintenance conf not issued by the monitor",
    "where": "where reading past its table",
    "precision": "narrower warm column",
    "api": "plugin API hole",
    "conf": "run conf reaching a connection its spec does not name",
}


def attack(kind: str) -> None:
    """A security probe (a bad input that an attacker would send): counted by kind as well."""
    assert kind in ATTACKS, kind
    counts[f"attack:{kind}"] += 1
    bad_inputs()


def rows(lost=(), duplicated=()) -> None:
    lost, duplicated = list(lost), list(duplicated)
    counts["rows_lost"] += len(lost)
    counts["rows_duplicated"] += len(duplicated)
    lost_keys.extend(lost[:20])
    dup_keys.extend(duplicated[:20])
    counts["row_checks"] += 1


def print_summary(terminalreporter) -> None:
    """Called by tests/conftest.py at the end of a session that ran fault or abuse tests; prints once."""
    global printed
    if printed:
        return
    printed = True
    terminalreporter.section("warm archive: fault and abuse summary")
    for line in summary_lines():
        terminalreporter.write_line(line)


def summary_lines() -> list[str]:
    c = counts
    ek_ok, ek_tried = c["engine_kill_survived"], c["engine_kill_tried"]
    kills_ok = c["kill_survived"] + ek_ok
    kills_tried = c["kill_tried"] + ek_tried
    engine_note = (
        f"{ek_ok}/{ek_tried} from tests/engine/test_kill.py"
        if ek_tried
        else "tests/engine/test_kill.py not in this session"
    )
    lines = [
        f"kill points survived / tried : {kills_ok} / {kills_tried}   "
        f"(Airflow worker kill -9: {c['kill_survived']}/{c['kill_tried']}; {engine_note})",
        f"faults survived / tried      : {c['fault_survived']} / {c['fault_tried']}",
        f"bad inputs tried             : {c['bad_inputs']} (every one refused, nothing changed)",
        "  of which security probes   : "
        + (
            ", ".join(f"{c[f'attack:{k}']} {what}" for k, what in ATTACKS.items() if c[f"attack:{k}"])
            or "none in this session"
        ),
        f"rows lost                    : {c['rows_lost']}" + (f"  keys {lost_keys[:10]}" if lost_keys else ""),
        f"rows duplicated              : {c['rows_duplicated']}" + (f"  keys {dup_keys[:10]}" if dup_keys else ""),
        f"(row checks made: {c['row_checks']})",
    ]
    return lines
