"""Warm Monitor tables: action log, per-run user state and re-execution links, maintenance requests.

Revision ID: 5a1c0e7d2b01
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5a1c0e7d2b01"
down_revision = None
branch_labels = None
depends_on = None

ID_LEN = 250


def upgrade() -> None:
    op.create_table(
        "warm_monitor_action",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(ID_LEN), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("dag_id", sa.String(ID_LEN), nullable=False),
        sa.Column("run_id", sa.String(ID_LEN), nullable=False),
        sa.Column("task_id", sa.String(ID_LEN), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("maintenance_run_id", sa.String(ID_LEN), nullable=True),
        sa.Column("new_run_id", sa.String(ID_LEN), nullable=True),
    )
    op.create_index("idx_warm_monitor_action_run", "warm_monitor_action", ["dag_id", "run_id"])
    op.create_index("idx_warm_monitor_action_created", "warm_monitor_action", ["created_at"])

    op.create_table(
        "warm_monitor_run",
        sa.Column("dag_id", sa.String(ID_LEN), primary_key=True),
        sa.Column("run_id", sa.String(ID_LEN), primary_key=True),
        sa.Column("source_override", sa.String(20), nullable=True),
        sa.Column("override_by", sa.String(ID_LEN), nullable=True),
        sa.Column("override_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delete_maintenance_run_id", sa.String(ID_LEN), nullable=True),
        sa.Column("rollback_maintenance_run_id", sa.String(ID_LEN), nullable=True),
        sa.Column("rollback_task_ids", sa.Text, nullable=True),
        sa.Column("reexecution_of", sa.String(ID_LEN), nullable=True),
        sa.Column("reexecuted_as", sa.String(ID_LEN), nullable=True),
        sa.Column("reexecute_from", sa.String(ID_LEN), nullable=True),
        sa.Column("reexecute_state", sa.String(20), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("idx_warm_monitor_run_rollback", "warm_monitor_run", ["rollback_maintenance_run_id"])
    op.create_index("idx_warm_monitor_run_reexec_state", "warm_monitor_run", ["reexecute_state"])

    op.create_table(
        "warm_monitor_maintenance",
        sa.Column("maintenance_run_id", sa.String(ID_LEN), primary_key=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("dag_id", sa.String(ID_LEN), nullable=False),
        sa.Column("run_id", sa.String(ID_LEN), nullable=False),
        sa.Column("task_ids", sa.Text, nullable=True),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("user_name", sa.String(ID_LEN), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("idx_warm_monitor_maintenance_run", "warm_monitor_maintenance", ["dag_id", "run_id"])


def downgrade() -> None:
    op.drop_table("warm_monitor_maintenance")
    op.drop_table("warm_monitor_run")
    op.drop_table("warm_monitor_action")
