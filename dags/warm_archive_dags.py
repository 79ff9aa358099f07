"""Warm DAGs for Airflow: one DAG per spec file in the specs folder (``specs/`` beside this file by default)."""

from warm_archive.dag_factory import load_dags

globals().update(load_dags(__file__))
