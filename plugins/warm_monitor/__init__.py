"""Warm Monitor: the Airflow 3 plugin that shows and steers warm archive runs (docs/design.md §6).

The plugin class lives in :mod:`warm_monitor.plugin`; this package init imports nothing, so a copy
of this folder in Airflow's ``plugins/`` folder is not registered twice (see ``plugin.py``).
"""

__version__ = "0.1.0"
