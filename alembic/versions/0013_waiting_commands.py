"""waiting commands: the batch that submitted a command, and an index of the single
submissions a settlement task may take into its unit of work

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

Under load a settlement task takes other commands waiting in `received` into its unit of work
(app/services/settlement.py: take_waiting). Only commands submitted on their own qualify: a
batch's commands are settled by the batch's tasks, in the request's order, and name the batch
(`commands.batch_id` says which one submitted them). Held commands (a reason shown) wait for
the sweeper, and a command the sweeper re-sent (enqueue_count > 0) is left to its own task,
whose deliveries are counted: a command that kills its worker is quarantined on its own and
never takes down other tasks' units of work. The partial index holds exactly those rows, in
the order they are taken, so taking them is a short index scan, not a sort of the backlog.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "status = 'received' AND reason IS NULL AND batch_id IS NULL AND enqueue_count = 0"


def upgrade() -> None:
    op.add_column("commands", sa.Column("batch_id", sa.String(length=64), nullable=True))
    # Batch commands still waiting when this runs must not be taken by single-command tasks.
    op.execute("""
        UPDATE commands AS c SET batch_id = i.batch_id
        FROM (SELECT command_id, min(batch_id) AS batch_id FROM command_batch_items
              GROUP BY command_id) AS i
        WHERE i.command_id = c.command_id AND c.status = 'received'
    """)
    op.create_index("ix_commands_waiting", "commands", ["received_at", "command_id"],
                    postgresql_where=sa.text(WAITING))


def downgrade() -> None:
    op.drop_index("ix_commands_waiting", table_name="commands")
    op.drop_column("commands", "batch_id")
