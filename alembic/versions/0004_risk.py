"""risk: accounts, positions, prices and history, escrow collateral, snapshots, margin
events, VaR/stress calculations, batches and their chunks

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-28 12:00:00.000000

Branches from 0002 (compliance adds 0003 from 0002 too); a merge revision joins the heads.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = ('risk',)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('risk_accounts',
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('alert_status', sa.String(length=16), nullable=True),
    sa.Column('health_score', sa.Numeric(), nullable=True),
    sa.Column('calculated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('account_id'),
    postgresql_with={'fillfactor': 80}
    )
    op.create_table('risk_batches',
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('asset', sa.String(length=16), nullable=True),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('request_key', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('chunk_size', sa.Integer(), nullable=False),
    sa.Column('total_accounts', sa.Integer(), nullable=False),
    sa.Column('total_chunks', sa.Integer(), nullable=False),
    sa.Column('chunks_done', sa.Integer(), nullable=False),
    sa.Column('chunks_failed', sa.Integer(), nullable=False),
    sa.Column('accounts_done', sa.Integer(), nullable=False),
    sa.Column('accounts_failed', sa.Integer(), nullable=False),
    sa.Column('events_emitted', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("scope IN ('all', 'asset')", name='scope_known'),
    sa.CheckConstraint("status IN ('running', 'completed', 'completed_with_failures')", name='status_known'),
    sa.PrimaryKeyConstraint('batch_id'),
    sa.UniqueConstraint('request_key')
    )
    op.create_index('ix_risk_batches_running', 'risk_batches', ['asset'], unique=False, postgresql_where=sa.text("status = 'running'"))
    op.create_table('risk_calculations',
    sa.Column('calculation_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=True),
    sa.Column('request', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('error_code', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'completed', 'failed')", name='status_known'),
    sa.PrimaryKeyConstraint('calculation_id')
    )
    op.create_index('ix_risk_calculations_pending', 'risk_calculations', ['created_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_table('risk_escrows',
    sa.Column('contract_address', sa.String(length=200), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=True),
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('open', 'closed')", name='status_known'),
    sa.PrimaryKeyConstraint('contract_address')
    )
    op.create_table('risk_margin_events',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('previous_status', sa.String(length=16), nullable=False),
    sa.Column('health_score', sa.Numeric(), nullable=True),
    sa.Column('previous_health_score', sa.Numeric(), nullable=True),
    sa.Column('total_collateral_usd', sa.Numeric(), nullable=True),
    sa.Column('total_borrow_usd', sa.Numeric(), nullable=True),
    sa.Column('liquidation_price_drop_percent', sa.Numeric(), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_index('ix_risk_margin_events_account', 'risk_margin_events', ['account_id', 'occurred_at'], unique=False)
    op.create_table('risk_price_history',
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('price_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('price_usd', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('price_usd > 0', name='price_positive'),
    sa.PrimaryKeyConstraint('asset', 'price_time')
    )
    op.create_table('risk_prices',
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('price_usd', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('price_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=True),
    sa.Column('tick_seq', sa.BigInteger(), nullable=False),
    sa.Column('recompute_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recomputed_seq', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('price_usd > 0', name='price_positive'),
    sa.PrimaryKeyConstraint('asset')
    )
    op.create_table('risk_snapshots',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('health_score', sa.Numeric(), nullable=True),
    sa.Column('total_collateral_usd', sa.Numeric(), nullable=True),
    sa.Column('total_borrow_usd', sa.Numeric(), nullable=True),
    sa.Column('liquidation_price_drop_percent', sa.Numeric(), nullable=True),
    sa.Column('initial_margin_usd', sa.Numeric(), nullable=True),
    sa.Column('maintenance_margin_usd', sa.Numeric(), nullable=True),
    sa.Column('unpriced_assets', postgresql.ARRAY(sa.String(length=16)), nullable=False),
    sa.Column('cause', sa.String(length=32), nullable=False),
    sa.Column('batch_id', sa.String(length=64), nullable=True),
    sa.Column('calculated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_risk_snapshots_account', 'risk_snapshots', ['account_id', sa.text('id DESC')], unique=False)
    op.create_table('risk_batch_chunks',
    sa.Column('batch_id', sa.String(length=64), nullable=False),
    sa.Column('chunk_no', sa.Integer(), nullable=False),
    sa.Column('lower_bound', sa.String(length=200), nullable=True),
    sa.Column('upper_bound', sa.String(length=200), nullable=True),
    sa.Column('planned_accounts', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('accounts', sa.Integer(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'done', 'failed')", name='status_known'),
    sa.ForeignKeyConstraint(['batch_id'], ['risk_batches.batch_id'], ),
    sa.PrimaryKeyConstraint('batch_id', 'chunk_no')
    )
    op.create_index('ix_risk_batch_chunks_pending', 'risk_batch_chunks', ['batch_id'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_table('risk_positions',
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('collateral', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('borrowed', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('escrowed', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('collateral >= 0 AND borrowed >= 0 AND escrowed >= 0', name='quantities_non_negative'),
    sa.ForeignKeyConstraint(['account_id'], ['risk_accounts.account_id'], ),
    sa.PrimaryKeyConstraint('account_id', 'asset')
    )
    op.create_index('ix_risk_positions_asset', 'risk_positions', ['asset', 'account_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_risk_positions_asset', table_name='risk_positions')
    op.drop_table('risk_positions')
    op.drop_index('ix_risk_batch_chunks_pending', table_name='risk_batch_chunks', postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('risk_batch_chunks')
    op.drop_index('ix_risk_snapshots_account', table_name='risk_snapshots')
    op.drop_table('risk_snapshots')
    op.drop_table('risk_prices')
    op.drop_table('risk_price_history')
    op.drop_index('ix_risk_margin_events_account', table_name='risk_margin_events')
    op.drop_table('risk_margin_events')
    op.drop_table('risk_escrows')
    op.drop_index('ix_risk_calculations_pending', table_name='risk_calculations', postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('risk_calculations')
    op.drop_index('ix_risk_batches_running', table_name='risk_batches', postgresql_where=sa.text("status = 'running'"))
    op.drop_table('risk_batches')
    op.drop_table('risk_accounts')
