"""Airflow DAG of the warm spec specs/demo_orders.yaml, written by `python -m warm_archive.dag_files`: do not edit."""

from warm_archive.dag_factory import spec_dags

dag, maintenance_dag = spec_dags(__file__, "specs/demo_orders.yaml")
