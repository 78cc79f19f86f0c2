"""console indexes: searching commands, one command's outcome event, an account's transfers,
snapshot retention

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

The operator console and GET /v1/settlement/commands page newest first by received_at, with
or without a status or a party; without these indexes each page is a sort of the whole
commands table. Held commands (`received` with a reason) get a partial index of their own,
since the overview lists them on every load. Each index on commands costs an entry per insert
and per status change (a status change is never a HOT update: status is in the predicate of
ix_commands_received), so the status index leaves out settled rows. risk_accounts gets none on purpose: its
fillfactor keeps a recalculation's update HOT, and an index on health_score would end that;
the accounts nearest liquidation are a top-N scan of 100k narrow rows instead.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES: tuple[tuple[str, str, list[str | sa.TextClause], str | None], ...] = (
    ("ix_commands_received_at", "commands", [sa.text("received_at DESC")], None),
    # Settled rows (nearly all) are left out: a search for them walks ix_commands_received_at,
    # and the UPDATE that settles a command adds no entry here.
    ("ix_commands_status_received", "commands", ["status", sa.text("received_at DESC")],
     "status <> 'settled'"),
    ("ix_commands_payer_received", "commands", ["payer", sa.text("received_at DESC")], None),
    ("ix_commands_payee_received", "commands", ["payee", sa.text("received_at DESC")], None),
    ("ix_commands_held", "commands", [sa.text("received_at DESC")],
     "status = 'received' AND reason IS NOT NULL"),
    ("ix_outbox_aggregate", "outbox", ["aggregate_id"], None),
    ("ix_ledger_transfers_debit", "ledger_transfers",
     ["debit_account", sa.text("created_at DESC")], None),
    ("ix_ledger_transfers_credit", "ledger_transfers",
     ["credit_account", sa.text("created_at DESC")], None),
    ("ix_dead_letters_received", "dead_letters", [sa.text("received_at DESC")], None),
    ("ix_risk_snapshots_calculated", "risk_snapshots", ["calculated_at"], None),
    ("ix_compliance_alerts_status_opened", "compliance_alerts",
     ["status", sa.text("opened_at DESC")], None),
)


def upgrade() -> None:
    for name, table, columns, where in _INDEXES:
        op.create_index(name, table, columns,
                        postgresql_where=sa.text(where) if where else None)


def downgrade() -> None:
    for name, table, _, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
