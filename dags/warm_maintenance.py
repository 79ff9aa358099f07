"""Airflow DAG ``warm_maintenance``: rollback, verified source deletion and verification of warm runs."""

from warm_archive.dag_factory import maintenance_dag

dag = maintenance_dag(__file__)
