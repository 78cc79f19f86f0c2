"""settlement batches: commands name the batch or task that settled them; batches submitted
through the API and their items; drop settle_if_clear (the SQL copy of the settlement rules)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Settlement now gets its throughput from batches of commands in one unit of work, decided by
the Python rules alone, so the PL/pgSQL copy of their happy path goes (issue 17: no rule is
copied into SQL for speed). A downgrade recreates the function from 0008's own text, so a
rollback to 0008 gets back exactly what 0008 installed.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SETTLE_IF_CLEAR_SIGNATURE = ("settle_if_clear(text, timestamptz, boolean, text, text, text, "
                              "text, text, text[])")


def _settle_if_clear_sql() -> str:
    # A revision file's name starts with a digit, so it is loaded by path, not imported.
    path = Path(__file__).with_name("0008_settle_if_clear.py")
    spec = importlib.util.spec_from_file_location("_revision_0008", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sql: str = module.SETTLE_IF_CLEAR
    return sql


def upgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {_SETTLE_IF_CLEAR_SIGNATURE}")
    op.add_column("commands", sa.Column("settled_by", sa.String(length=200), nullable=True))
    op.create_table(
        "command_batches",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("accepted_count", sa.Integer(), nullable=False),
        sa.Column("rejected_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    op.create_table(
        "command_batch_items",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("command_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["command_batches.batch_id"]),
        sa.ForeignKeyConstraint(["command_id"], ["commands.command_id"]),
        sa.PrimaryKeyConstraint("batch_id", "position"),
    )


def downgrade() -> None:
    op.drop_table("command_batch_items")
    op.drop_table("command_batches")
    op.drop_column("commands", "settled_by")
    op.get_bind().exec_driver_sql(_settle_if_clear_sql())
