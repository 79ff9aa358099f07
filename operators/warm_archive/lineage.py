"""A table job's tables as Airflow assets and OpenLineage datasets (docs/design.md §11).

Both are named the way Airflow's own providers name a table, so a DAG scheduled on
``Asset("postgres://db1:5432/shop/archive/orders")`` runs after each archive run into that table,
and lineage tools join a warm job's datasets with those of any SQL operator on the same tables:

* PostgreSQL: ``postgres://host:port/database/schema/table``; dataset ``database.schema.table`` in
  namespace ``postgres://host:port`` (an unqualified table is in ``public``);
* MySQL / MariaDB: ``mysql://host:port/database/table``; dataset ``database.table`` in namespace
  ``mysql://host:port`` (the table's qualifier is its database, else the connection's).

SQLite tables get neither. OpenLineage's classes are imported only when the openlineage provider
(the ``openlineage`` extra) calls the operator's ``get_openlineage_facets_*`` methods.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warm_archive.dialects import split_table

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Asset

    from warm_archive.plan import JobPlan
    from warm_archive.typemap import Column

log = logging.getLogger(__name__)

SCHEMES = {"postgres": "postgres", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
POSTGRES_DEFAULT_SCHEMA = "public"


@dataclass(frozen=True)
class TableRef:
    """One table on one server, as the postgres and mysql providers identify it."""

    scheme: str  # postgres | mysql
    authority: str  # host:port
    database: str
    schema: str | None  # PostgreSQL only
    table: str

    @property
    def parts(self) -> list[str]:
        return [self.database, *([self.schema] if self.schema is not None else []), self.table]

    @property
    def uri(self) -> str:
        """The Asset URI (``airflow.providers.postgres.assets`` / ``...mysql.assets``)."""
        return f"{self.scheme}://{self.authority}/" + "/".join(self.parts)

    @property
    def namespace(self) -> str:
        """The OpenLineage namespace (``DatabaseInfo``'s scheme and authority)."""
        return f"{self.scheme}://{self.authority}"

    @property
    def name(self) -> str:
        """The OpenLineage dataset name."""
        return ".".join(self.parts)

    def asset(self) -> Asset:
        from airflow.sdk import Asset

        return Asset(uri=self.uri)


def table_ref(conn: Any, table: str) -> TableRef | None:
    """``table`` (``[schema.]table``) on the server of Airflow connection ``conn``; None for SQLite,
    or a connection without host or database."""
    scheme = SCHEMES.get((conn.conn_type or "").lower())
    if scheme is None or not conn.host:
        return None
    from airflow.providers.common.sql.hooks.sql import DbApiHook

    qualifier, name = split_table(table)
    # host:port exactly as the providers' get_openlineage_database_info forms it
    authority = DbApiHook.get_openlineage_authority_part(conn, default_port=DEFAULT_PORTS[scheme])
    if scheme == "postgres":
        database = conn.schema
        schema: str | None = qualifier or POSTGRES_DEFAULT_SCHEMA
    else:
        database, schema = qualifier or conn.schema, None
    if not database:
        return None
    return TableRef(scheme, authority, database, schema, name)


def resolve(conn_id: str, table: str) -> TableRef | None:
    """``table_ref`` of an Airflow connection by id; None (logged) when it cannot be read: a DAG
    still loads without its assets, and its run fails on the missing connection as before."""
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
        return table_ref(conn, table)
    except Exception as e:  # not defined (yet), an invalid table name, a secrets backend down
        log.warning("no asset for %s on %s: %s", table, conn_id, e)
        return None


def assets(*refs: TableRef | None) -> list[Asset]:
    return [r.asset() for r in refs if r is not None]


# -- OpenLineage (the provider calls these through the operator) ------------------------------------


@dataclass(frozen=True)
class JobLineage:
    """What a table job tells the openlineage provider: its tables, and once it ran, its plan and figures."""

    source: TableRef | None
    target: TableRef | None
    plan: JobPlan | None = None
    status: dict | None = None  # the job's progress (``warm_status``), once it ran

    def operator_lineage(self) -> OperatorLineage:
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.generated.base import DatasetFacet, InputDataset, OutputDataset, OutputDatasetFacet
        from openlineage.client.generated.output_statistics_output_dataset import (
            OutputStatisticsOutputDatasetFacet,
        )
        from openlineage.client.generated.sql_job import SQLJobFacet

        p, s = self.plan, self.status or {}
        inputs, outputs = [], []
        if self.source is not None:
            in_facets = {"schema": _schema(p.src_cols)} if p is not None else {}
            inputs.append(InputDataset(self.source.namespace, self.source.name, facets=in_facets))
        if self.target is not None and not s.get("dry_run"):  # a dry run writes nothing
            facets: dict[str, DatasetFacet] = {}
            if p is not None:
                facets["schema"] = _schema(p.warm_cols or p.src_cols)
                if self.source is not None:
                    facets["columnLineage"] = _column_lineage(self.source, p.columns)
            out_facets: dict[str, OutputDatasetFacet] = {}
            if self.status is not None:  # the rows the job wrote; their size in bytes is not measured
                out_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=s.get("rows_copied", 0))
            outputs.append(
                OutputDataset(self.target.namespace, self.target.name, facets=facets, outputFacets=out_facets)
            )
        job_facets = {}
        statements = [e["statement"] for e in s.get("sql") or [] if e.get("statement")]
        if statements:
            job_facets["sql"] = SQLJobFacet(query=";\n".join(statements))
        return OperatorLineage(inputs=inputs, outputs=outputs, job_facets=job_facets)


def _schema(cols: tuple[Column, ...]) -> Any:
    from openlineage.client.generated.schema_dataset import SchemaDatasetFacet, SchemaDatasetFacetFields

    return SchemaDatasetFacet(fields=[SchemaDatasetFacetFields(name=c.name, type=c.native_type) for c in cols])


def _column_lineage(source: TableRef, columns: tuple[str, ...]) -> Any:
    """Each warm column is its source column, copied as it is."""
    from openlineage.client.generated.column_lineage_dataset import (
        ColumnLineageDatasetFacet,
        Fields,
        InputField,
        Transformation,
    )

    identity = Transformation(type="DIRECT", subtype="IDENTITY", description="copied unchanged")
    return ColumnLineageDatasetFacet(
        fields={
            c: Fields(inputFields=[InputField(source.namespace, source.name, c, transformations=[identity])])
            for c in columns
        }
    )
