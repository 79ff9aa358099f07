"""A table job's defaults, set once: the engine, the operator, the spec and the provider config read them here."""

from __future__ import annotations

from typing import Final

from warm_archive.contract import OnConflict, Strategy

STRATEGY: Final = Strategy.COPY_THEN_DELETE
BATCH_SIZE: Final = 20000
ON_CONFLICT: Final = OnConflict.SKIP
MAX_ROWS_PER_SECOND: Final[float | None] = None  # no throttle
MAX_STATEMENT_S: Final = 0.5  # the longest a source statement of the job should run (walk.py)
LOCK_TIMEOUT_S: Final = 600.0  # [warm_archive] lock_timeout (docs/design.md §4.2)
RETRIES: Final = 2  # Airflow task retries of a warm DAG's table jobs
RETRY_DELAY_S: Final = 30
