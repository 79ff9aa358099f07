"""A running table job learns of a terminate within a second, not at the supervisor's next heartbeat.

Terminate (the monitor's, or Airflow's mark-failed / mark-success) changes the task instance's state
in Airflow's metadata DB; the worker's supervisor notices only at its next heartbeat, seconds later,
while the job keeps committing batches. So the job asks Airflow itself, through the task SDK (the
same path as its XComs: no database access of its own, nothing new for the api-server), every
``[warm_archive] stop_poll_seconds`` (default ``EVERY_S``; 0 leaves it to the heartbeat); once its task instance has left ``running`` it stops: the running statement is
cancelled, the batch in flight commits or rolls back as a whole, and nothing after it starts
(docs/design.md §4.8).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

EVERY_S = 0.5
STILL_RUNNING = (None, "running", "queued", "scheduled")  # None: not known (yet)


def own_state(ti: Any) -> Callable[[], str | None]:
    """How a task instance's own state is read through the task SDK (``RuntimeTaskInstance``)."""

    def ask() -> str | None:
        states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id])
        state = (states.get(ti.run_id) or {}).get(ti.task_id)
        return getattr(state, "value", state)

    return ask


def poll_seconds() -> float:
    """``[warm_archive] stop_poll_seconds``, read on the worker at run time."""
    from airflow.configuration import conf

    return max(0.0, conf.getfloat("warm_archive", "stop_poll_seconds", fallback=EVERY_S))


class StopWatch:
    """Calls ``stop`` once ``ask()`` says the task instance no longer runs. A context manager: the
    watching thread ends with the block, so it never talks to Airflow after the task returned."""

    def __init__(self, ask: Callable[[], str | None], stop: Callable[[], None], every_s: float = EVERY_S) -> None:
        self._ask = ask
        self._stop = stop
        self._every_s = every_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="warm-archive-stop-watch", daemon=True)
        self.stopped_because: str | None = None

    def __enter__(self) -> StopWatch:
        if self._every_s > 0:  # 0: the supervisor's heartbeat alone stops the job (the bench's baseline)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        complained = False
        while not self._done.wait(self._every_s):
            try:
                state = self._ask()
            except Exception as e:  # the supervisor is gone or busy: its own heartbeat still stops us
                if not complained:
                    log.warning("cannot read this task's state from Airflow (%s); stopping on its heartbeat", e)
                    complained = True
                continue
            if state not in STILL_RUNNING:
                self.stopped_because = state
                log.info("this task instance is now %s in Airflow: stopping after the batch in flight", state)
                self._stop()
                return
