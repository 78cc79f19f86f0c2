"""foundation: ledger, escrows, commands, idempotency, api keys, outbox

Revision ID: 0001
Revises:
Create Date: 2026-11-28 04:23:40.929379
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('api_keys',
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', postgresql.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key_id')
    )
    op.create_table('commands',
    sa.Column('command_id', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('reason_detail', sa.Text(), nullable=True),
    sa.Column('escrow_id', sa.String(length=200), nullable=True),
    sa.Column('workflow_id', sa.String(length=200), nullable=True),
    sa.Column('account_ref', sa.String(length=200), nullable=True),
    sa.Column('payer', sa.String(length=200), nullable=True),
    sa.Column('payee', sa.String(length=200), nullable=True),
    sa.Column('asset', sa.String(length=16), nullable=True),
    sa.Column('amount', sa.Numeric(precision=38, scale=18), nullable=True),
    sa.Column('counter_asset', sa.String(length=16), nullable=True),
    sa.Column('counter_amount', sa.Numeric(precision=38, scale=18), nullable=True),
    sa.Column('deadline', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('enqueue_count', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_enqueued_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('validated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settling_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('received', 'validated', 'settling', 'settled', 'failed')", name='status_known'),
    sa.PrimaryKeyConstraint('command_id')
    )
    op.create_index('ix_commands_escrow', 'commands', ['escrow_id'], unique=False)
    op.create_index('ix_commands_received', 'commands', ['last_enqueued_at'], unique=False, postgresql_where=sa.text("status = 'received'"))
    op.create_table('idempotency_records',
    sa.Column('api_key_id', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=False),
    sa.Column('response_body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('api_key_id', 'key')
    )
    op.create_table('ledger_balances',
    sa.Column('account_id', sa.String(length=200), nullable=False),
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('no_overdraft', sa.Boolean(), nullable=False),
    sa.Column('debits_posted', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('credits_posted', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('debits_pending', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('credits_pending', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('NOT no_overdraft OR credits_posted - debits_posted - debits_pending >= 0', name='no_overdraft_respected'),
    sa.CheckConstraint('debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0 AND credits_pending >= 0', name='counters_non_negative'),
    sa.PrimaryKeyConstraint('account_id', 'asset')
    )
    op.create_table('outbox',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.BigInteger(), sa.Identity(always=True), nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('aggregate_id', sa.String(length=200), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('seq')
    )
    op.create_index('ix_outbox_unpublished', 'outbox', ['seq'], unique=False, postgresql_where=sa.text('published_at IS NULL'))
    op.create_table('ledger_transfers',
    sa.Column('transfer_id', sa.String(length=200), nullable=False),
    sa.Column('debit_account', sa.String(length=200), nullable=False),
    sa.Column('credit_account', sa.String(length=200), nullable=False),
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'posted', 'voided')", name='status_known'),
    sa.CheckConstraint('amount > 0', name='amount_positive'),
    sa.CheckConstraint('debit_account <> credit_account', name='distinct_accounts'),
    sa.ForeignKeyConstraint(['credit_account', 'asset'], ['ledger_balances.account_id', 'ledger_balances.asset'], ),
    sa.ForeignKeyConstraint(['debit_account', 'asset'], ['ledger_balances.account_id', 'ledger_balances.asset'], ),
    sa.PrimaryKeyConstraint('transfer_id')
    )
    op.create_table('escrows',
    sa.Column('escrow_id', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('contract_address', sa.String(length=200), nullable=True),
    sa.Column('payer', sa.String(length=200), nullable=False),
    sa.Column('payee', sa.String(length=200), nullable=False),
    sa.Column('arbiter', sa.String(length=200), nullable=True),
    sa.Column('amount', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('approvals_required', sa.SmallInteger(), nullable=False),
    sa.Column('release_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('funding_transfer_id', sa.String(length=200), nullable=False),
    sa.Column('hold_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('created', 'approved', 'released', 'refunded')", name='status_known'),
    sa.CheckConstraint('amount > 0', name='amount_positive'),
    sa.CheckConstraint('approvals_required BETWEEN 1 AND 3', name='approvals_range'),
    sa.CheckConstraint('payer <> payee', name='payer_not_payee'),
    sa.ForeignKeyConstraint(['funding_transfer_id'], ['ledger_transfers.transfer_id'], ),
    sa.PrimaryKeyConstraint('escrow_id'),
    sa.UniqueConstraint('contract_address')
    )
    op.create_table('escrow_approvals',
    sa.Column('escrow_id', sa.String(length=200), nullable=False),
    sa.Column('approver', sa.String(length=200), nullable=False),
    sa.Column('approved_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['escrow_id'], ['escrows.escrow_id'], ),
    sa.PrimaryKeyConstraint('escrow_id', 'approver')
    )


def downgrade() -> None:
    op.drop_table('escrow_approvals')
    op.drop_table('escrows')
    op.drop_table('ledger_transfers')
    op.drop_index('ix_outbox_unpublished', table_name='outbox', postgresql_where=sa.text('published_at IS NULL'))
    op.drop_table('outbox')
    op.drop_table('ledger_balances')
    op.drop_table('idempotency_records')
    op.drop_index('ix_commands_received', table_name='commands', postgresql_where=sa.text("status = 'received'"))
    op.drop_index('ix_commands_escrow', table_name='commands')
    op.drop_table('commands')
    op.drop_table('api_keys')
