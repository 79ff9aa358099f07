"""Concurrent writers on the hot table while a job archives it (docs/design.md §4.3, §4.5).

A writer thread inserts (new matching rows ahead of the job, and in gaps behind it), updates rows
(ahead, in the batch being archived, already archived) and deletes rows, all with autocommit,
while a throttled ``move`` or ``copy_then_delete`` runs. The writer keeps a model of what each of
its committed statements did (by rowcount), so the model is the truth the tables must match:
- every key of the model is in the source with the model's content, or (only if it left the
  source) in the warm table with the model's content: an updated row that was deleted from the
  source after its copy would show here as the old content in the warm table (lost update);
- no key is in both tables with the same content (duplicated), and every warm row is a version
  its key really had in the source (a row copied and then deleted by the writer legitimately stays
  archived; a version the source never held would be made up).
"""

from __future__ import annotations

import random
import threading

import pytest

from tests.dbs import orders_rows
from tests.faults import tally
from tests.faults.fdb import FEngine, FPair, JobThread, ledger_batches

N = 1200  # ids 1, 3, 5, ... (odd), so the writer can insert into the gaps
CASES = [
    ("pg", "pg", "move"),
    ("my", "my", "move"),
    ("pg", "my", "move"),
    ("my", "pg", "copy_then_delete"),
    ("pg", "pg", "copy_then_delete"),
]


class Writer(threading.Thread):
    def __init__(self, kind: str, table: str, model: dict, seed: int):
        super().__init__(daemon=True)
        self.e = FEngine(kind)
        self.t = self.e.q(table)
        self.model = model  # key -> note (content marker); absent = deleted
        self.history = {k: {v} for k, v in model.items()}  # every note each key ever committed
        self.rnd = random.Random(seed)
        self.stop = threading.Event()
        self.ops = {"insert": 0, "update": 0, "delete": 0, "noop": 0, "error": 0}

    def _exec(self, sql, params) -> int:
        try:
            return self.e.execute(sql, params).rowcount
        except Exception:  # lock wait timeout / deadlock / serialization: the statement did nothing
            self.ops["error"] += 1
            if self.e.kind == "my":
                self.e.conn.rollback()
            return 0

    def run(self):
        next_id = 2 * N + 1
        i = 0
        while not self.stop.is_set():
            i += 1
            op = self.rnd.choice(["insert_ahead", "insert_gap", "update", "update", "delete"])
            if op.startswith("insert"):
                key = next_id if op == "insert_ahead" else self.rnd.randrange(1, N) * 2  # even: a gap
                if op == "insert_ahead":
                    next_id += 2
                if key in self.model:
                    continue
                row = list(next(orders_rows(1, seed=key, first_id=key)))
                row[1] = row[1].replace(year=2024)  # matches the condition
                row[4] = f"ins-{i}"
                try:
                    self.e.insert(self.table_name, [tuple(row)])
                    self.model[key] = row[4]
                    self.history.setdefault(key, set()).add(row[4])
                    self.ops["insert"] += 1
                except Exception:
                    self.ops["error"] += 1
                    if self.e.kind == "my":
                        self.e.conn.rollback()
            elif op == "update":
                key = self.rnd.choice(list(self.model))
                note = f"upd-{i}"
                if self._exec(f"UPDATE {self.t} SET note = %s WHERE id = %s", (note, key)) == 1:
                    self.model[key] = note
                    self.history[key].add(note)
                    self.ops["update"] += 1
                else:
                    self.ops["noop"] += 1  # already archived (gone from the source): nothing changed
            else:
                key = self.rnd.choice(list(self.model))
                if self._exec(f"DELETE FROM {self.t} WHERE id = %s", (key,)) == 1:
                    del self.model[key]
                    self.ops["delete"] += 1
                else:
                    self.ops["noop"] += 1
            self.stop.wait(0.004)
        self.e.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("s,w,strategy", CASES, ids=[f"{s}->{w}-{st}" for s, w, st in CASES])
def test_concurrent_writers_lose_nothing(fengines, s, w, strategy):
    pair = FPair(s, w, "cw", fengines)
    pair.reset(n=0)
    rows = [r for r in orders_rows(N, seed=5) if r[0] % 2 == 1] + [r for r in orders_rows(N, seed=5, first_id=N + 1)]
    pair.src.insert(pair.src_table, [(2 * r[0] - 1, *r[1:]) for r in rows])  # odd ids 1 .. 4N-1
    start = pair.src_rows()
    model = {k: v[4] for k, v in start.items()}
    run_id = f"cw_{s}{w}_{strategy}"
    with tally.scenario("fault"):
        writer = Writer(s, pair.src_table, model, seed=hash(run_id) & 0xFFFF)
        writer.table_name = pair.src_table
        job = JobThread(pair.params(strategy, run_id, batch_size=150, max_rows_per_second=700))
        job.start()
        writer.start()
        job.finish(150)
        writer.stop.set()
        writer.join(30)
        assert job.error is None, job.error
        assert writer.ops["update"] >= 8 and writer.ops["insert"] >= 8 and writer.ops["delete"] >= 3, writer.ops

        src, warm = pair.src_rows(), pair.warm_rows()
        wrong, lost = [], []
        for k, note in model.items():
            where = src.get(k) if k in src else warm.get(k)
            if where is None:
                lost.append(k)
            elif where[4] != note:
                wrong.append((k, note, where[4]))
        dup = [k for k in warm if k in src and warm[k] == src[k]]
        made_up = [(k, warm[k][4]) for k in warm if warm[k][4] not in writer.history.get(k, ())]
        tally.rows(lost=lost + [k for k, *_ in wrong], duplicated=dup)
        assert not lost, f"{len(lost)} row(s) in neither table: {lost[:10]}"
        assert not wrong, (
            f"{len(wrong)} row(s) whose latest content is in neither table (key, expected, found): {wrong[:5]}"
        )
        assert not dup, f"{len(dup)} row(s) in both tables: {dup[:10]}"
        assert not made_up, f"warm rows with a content their key never had: {made_up[:10]}"
        assert all(warm[k][1].year < 2025 for k in warm), "a row that never matched the condition was archived"
        assert ledger_batches(pair.warm, "warm_fault", run_id, "cw") > 3
