"""bridge: inbound events, dead letters, outbox notify

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 04:36:14.644038
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dead_letters',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('subscription', sa.String(length=200), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=True),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replay_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('inbound_events',
    sa.Column('dedup_key', sa.String(length=300), nullable=False),
    sa.Column('consumer', sa.String(length=32), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('aggregate_id', sa.String(length=200), nullable=True),
    sa.Column('message_id', sa.String(length=200), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('dedup_key', 'consumer')
    )
    op.create_index('ix_inbound_waiting', 'inbound_events', ['aggregate_id'], unique=False, postgresql_where=sa.text("status = 'waiting'"))
    op.create_index('ix_outbox_pending_aggregate', 'outbox', ['topic', 'aggregate_id', 'seq'],
                    unique=False, postgresql_where=sa.text('published_at IS NULL'))
    # Wake the outbox relay at commit instead of making it poll hard.
    op.execute("""
        CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('outbox', '');
            RETURN NULL;
        END $$;
    """)
    op.execute("""
        CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
        FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_notify ON outbox")
    op.execute("DROP FUNCTION outbox_notify()")
    op.drop_index('ix_outbox_pending_aggregate', table_name='outbox')
    op.drop_index('ix_inbound_waiting', table_name='inbound_events', postgresql_where=sa.text("status = 'waiting'"))
    op.drop_table('inbound_events')
    op.drop_table('dead_letters')
