"""Airflow provider metadata: Airflow finds the config section (and the plugin) on ``pip install``."""

from __future__ import annotations

from warm_archive import __version__, defaults


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-warm-archive",
        "name": "Warm Archive",
        "description": "Move old rows from hot tables into a warm archive database, with a monitoring page.",
        "versions": [__version__],
        "plugins": [{"name": "warm_monitor", "plugin-class": "warm_monitor.plugin.WarmMonitorPlugin"}],
        "db-managers": ["warm_monitor.db_manager.WarmMonitorDBManager"],
        "config": {
            "warm_archive": {
                "description": "Warm Archive table jobs and their monitoring page.",
                "options": {
                    "specs_folder": {
                        "description": "Folder of warm DAG spec files (YAML). Empty: the specs/ "
                        "folder beside the DAG file that loads them.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/opt/airflow/warm_specs",
                        "default": "",
                    },
                    "stop_poll_seconds": {
                        "description": "How often a running table job asks Airflow (through the task "
                        "SDK) whether its task instance was terminated, so it stops after the batch in "
                        "flight. 0: it stops at the worker supervisor's next heartbeat instead.",
                        "version_added": "0.2.0",
                        "type": "float",
                        "example": "0.5",
                        "default": "0.5",
                    },
                    "lock_timeout": {
                        "description": "Seconds a table job waits for another job working on the "
                        "same warm table before it fails.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": str(int(defaults.LOCK_TIMEOUT_S)),
                        "default": str(int(defaults.LOCK_TIMEOUT_S)),
                    },
                    "max_statement_seconds": {
                        "description": "The longest a table job's statement on the source should "
                        "run: the key ranges the job reads adapt so that each statement stays under "
                        "it, whatever the condition. An operator's max_statement_seconds or a run "
                        "conf's overrides it.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": str(defaults.MAX_STATEMENT_S),
                        "default": str(defaults.MAX_STATEMENT_S),
                    },
                    "maintenance_signing_key": {
                        "description": "Secret with which the api-server signs each maintenance "
                        "run's conf and the workers check it; set it to the same value on both. Empty: "
                        "[api_auth] jwt_secret, which every component already shares.",
                        "version_added": "0.2.0",
                        "type": "string",
                        "sensitive": True,
                        "example": None,
                        "default": "",
                    },
                    "maintenance_queue": {
                        "description": "Executor queue of every maintenance task (``<dag_id>__maintenance``: "
                        "rollback, source deletion, verification). Empty: each spec's ``queue:`` "
                        "(else the default queue), like the table jobs.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "near_db",
                        "default": "",
                    },
                },
            }
        },
    }
