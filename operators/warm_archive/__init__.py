"""Warm Archive: move old rows from hot tables into a warm archive database, as Airflow table jobs.

Worker side. The plugin (``warm_monitor``) may import only :mod:`warm_archive.contract`.
"""

__version__ = "0.1.0"
