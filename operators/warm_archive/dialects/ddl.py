"""Table DDL in each engine's words: the warm table the job creates, the ledger's column types."""

from __future__ import annotations

from collections.abc import Sequence

from warm_archive import typemap
from warm_archive.dialects.base import Dialect, split_table
from warm_archive.typemap import Column

# The ledger's columns by kind (ledger.py writes the CREATE TABLE from these).
LEDGER_TYPES: dict[str, dict[str, str]] = {
    "postgres": {
        "id": "BIGSERIAL PRIMARY KEY",
        "str": "VARCHAR(250)",
        "text": "TEXT",
        "int": "BIGINT",
        "ts": "VARCHAR(40)",
    },
    "mysql": {
        "id": "BIGINT AUTO_INCREMENT PRIMARY KEY",
        "str": "VARCHAR(250)",
        "text": "LONGTEXT",
        "int": "BIGINT",
        "ts": "VARCHAR(40)",
    },
    "sqlite": {
        "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "str": "VARCHAR(250)",
        "text": "TEXT",
        "int": "BIGINT",
        "ts": "VARCHAR(40)",
    },
}

_SCHEMA_WORD = {"postgres": "SCHEMA", "mysql": "DATABASE"}  # SQLite: an attached file, not created


class DDL(Dialect):
    def create_table_sql(
        self, table: str, columns: Sequence[Column], key: Sequence[str], source_engine: str
    ) -> list[str]:
        """Same engine: the source's exact types; across engines: the canonical type in this
        engine's words (``typemap.render``)."""
        defs = []
        for c in columns:
            t = c.native_type if source_engine == self.name else typemap.render(c.canonical, self.name)
            defs.append(f"{self.quote(c.name)} {t}{'' if c.nullable else ' NOT NULL'}")
        defs.append(f"PRIMARY KEY ({self.cols(key)})")
        schema, _ = split_table(table)
        out = []
        if schema and self.name in _SCHEMA_WORD:
            out.append(f"CREATE {_SCHEMA_WORD[self.name]} IF NOT EXISTS {self.quote(schema)}")
        out.append(f"CREATE TABLE IF NOT EXISTS {self.table(table)} ({', '.join(defs)})")
        return out

    def ledger_types(self) -> dict[str, str]:
        return dict(LEDGER_TYPES[self.name])
