"""alerts: webhook subscriptions, notification preferences, alert events, deliveries and
their attempts

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-28 13:00:00.000000

Branches from 0002 like compliance (0003) and risk (0004); `upgrade heads` applies all.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = ('alerts',)
depends_on: str | Sequence[str] | None = None

NOW = sa.text('now()')
JSONB = postgresql.JSONB(astext_type=sa.Text())


def _tz(name: str, nullable: bool = True, default: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=NOW if default else None)


def upgrade() -> None:
    op.create_table('webhook_subscriptions',
    sa.Column('id', sa.String(64), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('event_types', postgresql.ARRAY(sa.String(64)), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('secret_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('secret_key_id', sa.String(16), nullable=False),
    _tz('created_at', nullable=False, default=True),
    _tz('secret_rotated_at'),
    _tz('deleted_at'),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_table('notification_preferences',
    sa.Column('account_id', sa.String(200), nullable=False),
    sa.Column('channels', postgresql.ARRAY(sa.String(16)), nullable=False),
    sa.Column('email_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('email_key_id', sa.String(16), nullable=True),
    sa.Column('quiet_start', sa.Time(), nullable=True),
    sa.Column('quiet_end', sa.Time(), nullable=True),
    sa.Column('timezone', sa.String(64), nullable=False),
    _tz('updated_at', nullable=False, default=True),
    sa.PrimaryKeyConstraint('account_id'),
    )
    op.create_table('alert_events',
    sa.Column('event_id', sa.String(300), nullable=False),
    sa.Column('event_type', sa.String(64), nullable=False),
    sa.Column('account_id', sa.String(200), nullable=True),
    sa.Column('severity', sa.String(16), nullable=False),
    sa.Column('payload', JSONB, nullable=False),
    _tz('received_at', nullable=False, default=True),
    sa.PrimaryKeyConstraint('event_id'),
    )
    op.create_table('alert_deliveries',
    sa.Column('id', sa.String(64), nullable=False),
    sa.Column('alert_event_id', sa.String(300), nullable=False),
    sa.Column('channel', sa.String(16), nullable=False),
    sa.Column('target', sa.String(64), nullable=False),
    sa.Column('subscription_id', sa.String(64), nullable=True),
    sa.Column('account_id', sa.String(200), nullable=True),
    sa.Column('event_type', sa.String(64), nullable=False),
    sa.Column('status', sa.String(16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    _tz('next_attempt_at'),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    _tz('created_at', nullable=False, default=True),
    _tz('completed_at'),
    sa.ForeignKeyConstraint(['alert_event_id'], ['alert_events.event_id']),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('alert_event_id', 'channel', 'target', name='uq_delivery_target'),
    )
    op.create_index('ix_delivery_subscription', 'alert_deliveries',
                    ['subscription_id', 'created_at'])
    op.create_index('ix_delivery_due', 'alert_deliveries', ['next_attempt_at'],
                    postgresql_where=sa.text("status IN ('pending', 'held', 'delivering')"))
    op.create_table('alert_delivery_attempts',
    sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
    sa.Column('delivery_id', sa.String(64), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    _tz('started_at', nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('latency_ms', sa.Integer(), nullable=False),
    sa.Column('retry_in_seconds', sa.Numeric(), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['alert_deliveries.id']),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('delivery_id', 'attempt', name='uq_attempt_number'),
    )


def downgrade() -> None:
    op.drop_table('alert_delivery_attempts')
    op.drop_index('ix_delivery_due', table_name='alert_deliveries')
    op.drop_index('ix_delivery_subscription', table_name='alert_deliveries')
    op.drop_table('alert_deliveries')
    op.drop_table('alert_events')
    op.drop_table('notification_preferences')
    op.drop_table('webhook_subscriptions')
