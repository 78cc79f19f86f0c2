"""inbound inbox: every message the bridge relays, written before its ack, until a consumer
has applied it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_inbox",
        # The same event on two subscriptions of one topic is two tasks, so two rows.
        sa.Column("subscription", sa.String(length=200), nullable=False),
        sa.Column("dedup_key", sa.String(length=300), nullable=False),
        sa.Column("task_name", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("event", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resends", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("now()")),
        sa.Column("next_resend_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("subscription", "dedup_key"),
        sa.CheckConstraint("status IN ('received', 'processed')", name="ck_inbox_status"),
    )
    # The sweeper reads only what is still waiting for its consumer.
    op.create_index("ix_inbox_due", "inbound_inbox", ["next_resend_at"],
                    postgresql_where=sa.text("status = 'received'"))


def downgrade() -> None:
    op.drop_index("ix_inbox_due", table_name="inbound_inbox")
    op.drop_table("inbound_inbox")
