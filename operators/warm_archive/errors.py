"""Errors a user can act on. Their message is the whole story: no stack trace is needed."""


class WarmArchiveError(Exception):
    """A problem with the user's input or databases, reported as a clear message."""


class SpecError(WarmArchiveError):
    """A spec file or a run conf that does not follow the contract."""


class ConflictError(WarmArchiveError):
    """A row is already in the warm table and ``on_conflict`` is ``error``."""


TERMINATED = "terminated; the ledger holds every committed batch"
"""What a stopped job reports (the page prefixes each job's error with its task id)."""


class Terminated(WarmArchiveError):
    """The job was asked to stop (terminate from the monitor, or Airflow's on_kill)."""
