"""``WarmMonitorPlugin``: the Warm Tasks page and its JSON API inside Airflow 3's api-server.

Registration (docs/design.md §2.3), exactly once whichever way it is installed:

* installed distribution: the ``airflow.plugins`` entry point ``warm_monitor`` names
  :data:`entry_point_plugin`, and the provider info (``get_provider_info()["plugins"]``) names
  :class:`WarmMonitorPlugin`. Airflow reads provider plugins only when
  ``[core] lazy_discover_providers`` is off; then :data:`entry_point_plugin` is ``None`` (skipped
  without error) and the provider registers it, else the entry point does.
* a copy of this folder in Airflow's ``plugins/`` folder: Airflow executes this file as a
  top-level module (``.airflowignore`` hides the others). If the distribution is installed too,
  this copy exposes no plugin class; otherwise it exposes the class of the ``warm_monitor`` package
  (importable because Airflow puts the plugins folder on ``sys.path``).
"""

from __future__ import annotations


def _installed() -> bool:
    """Whether the distribution's ``airflow.plugins`` entry point for this plugin is installed."""
    from importlib.metadata import entry_points

    return any(ep.value.startswith("warm_monitor.") for ep in entry_points(group="airflow.plugins"))


if __name__ == "warm_monitor.plugin":
    from airflow.plugins_manager import AirflowPlugin

    from warm_monitor import listener
    from warm_monitor.app import app

    _DAG_RUN = "dag_run"  # destination names of external views
    _TASK_INSTANCE = "task_instance"

    class WarmMonitorPlugin(AirflowPlugin):
        name = "warm_monitor"
        fastapi_apps = [{"app": app, "url_prefix": "/warm", "name": "Warm Monitor"}]
        external_views = [
            {
                "name": "Warm Tasks",
                "href": "warm/",
                "url_route": "warm_tasks",
                "destination": "nav",
                "category": "browse",
            },
            {
                "name": "Warm",
                "href": "warm/?dag_id={DAG_ID}&run_id={RUN_ID}",
                "url_route": "warm_run",
                "destination": _DAG_RUN,
            },
            {
                "name": "Warm",
                "href": "warm/?dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}&map_index={MAP_INDEX}",
                "url_route": "warm_task",
                "destination": _TASK_INSTANCE,
            },
        ]
        listeners = [listener]

    def _lazy_providers() -> bool:
        from airflow.configuration import conf

        return conf.getboolean("core", "lazy_discover_providers", fallback=True)

    # Target of the ``airflow.plugins`` entry point (see the module docstring).
    entry_point_plugin = WarmMonitorPlugin if _lazy_providers() else None

elif not _installed():  # a plain copy in Airflow's plugins folder
    from warm_monitor.plugin import WarmMonitorPlugin  # noqa: F401
