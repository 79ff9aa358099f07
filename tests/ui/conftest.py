"""Fixtures of the browser tests (defined in harness.py, which the tests also import helpers from)."""

from .harness import airflow, browser, page, pytest_runtest_makereport, runs, viewer_page  # noqa: F401
