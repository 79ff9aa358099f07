"""Creates and migrates the plugin's tables; ``airflow db migrate`` runs it (provider ``db-managers``)."""

from __future__ import annotations

from pathlib import Path

from airflow.utils.db_manager import BaseDBManager

from warm_monitor.models import metadata

PACKAGE_DIR = Path(__file__).resolve().parent


class WarmMonitorDBManager(BaseDBManager):
    """Alembic-managed tables of the Warm Monitor plugin, with their own version table."""

    metadata = metadata
    version_table_name = "warm_monitor_alembic_version"
    migration_dir = (PACKAGE_DIR / "migrations").as_posix()
    alembic_file = (PACKAGE_DIR / "alembic.ini").as_posix()
    supports_table_dropping = True

    def create_db_from_orm(self) -> None:
        """Always go through the migration scripts: they are the one definition of the schema."""
        from alembic import command

        self._release_metadata_locks_if_needed()
        command.upgrade(self.get_alembic_config(), "heads")

    def upgradedb(
        self,
        to_revision: str | None = None,
        from_revision: str | None = None,
        show_sql_only: bool = False,
        use_migration_files: bool = False,
    ) -> None:
        from alembic import command

        self.log.info("Upgrading the %s database", type(self).__name__)
        self._release_metadata_locks_if_needed()
        command.upgrade(self.get_alembic_config(), revision=to_revision or "heads", sql=show_sql_only)

    def downgrade(self, to_revision: str, from_revision: str | None = None, show_sql_only: bool = False) -> None:
        from alembic import command

        command.downgrade(self.get_alembic_config(), revision=to_revision, sql=show_sql_only)
