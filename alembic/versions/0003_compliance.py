"""compliance: KYC cases and their history, AML checks and alerts, versioned sanctions lists,
screening subjects and screenings, batch re-screen runs and their chunks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:00:00.000000

Branches from 0002 like the risk migration (0004); `upgrade heads` applies both.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = ('compliance',)
depends_on: str | Sequence[str] | None = None

NOW = sa.text('now()')
JSONB = postgresql.JSONB(astext_type=sa.Text())


def _tz(name: str, nullable: bool = True, default: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable,
                     server_default=NOW if default else None)


def _entry_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(['version_id', 'uid'],
                                   ['sanctions_entries.version_id', 'sanctions_entries.uid'])


def upgrade() -> None:
    op.create_table('kyc_cases',
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('party', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('document_type', sa.String(length=32), nullable=False),
    sa.Column('photo_quality', sa.String(length=8), nullable=False),
    sa.Column('data_complete', sa.Boolean(), nullable=False),
    sa.Column('email_verified', sa.Boolean(), nullable=False),
    sa.Column('phone_verified', sa.Boolean(), nullable=False),
    sa.Column('verification_score', sa.Numeric(precision=5, scale=4), nullable=False),
    sa.Column('personal_data', sa.LargeBinary(), nullable=False),
    sa.Column('pii_key_id', sa.String(length=16), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    _tz('opened_at', False, True), _tz('updated_at', False, True), _tz('decided_at'),
    sa.CheckConstraint("status IN ('pending', 'in_review', 'needs_info', 'approved', 'rejected')", name='status_known'),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_index('ux_kyc_cases_open_party', 'kyc_cases', ['party'], unique=True,
                    postgresql_where=sa.text("status IN ('pending', 'in_review', 'needs_info')"))
    op.create_index('ix_kyc_cases_party_decided', 'kyc_cases', ['party', 'decided_at'])
    op.create_table('kyc_case_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('case_id', sa.String(length=64), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('reviewer', sa.String(length=200), nullable=True),
    _tz('at', False, True),
    sa.ForeignKeyConstraint(['case_id'], ['kyc_cases.case_id']),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_kyc_case_events_case_id'), 'kyc_case_events', ['case_id'])

    op.create_table('aml_checks',
    sa.Column('check_id', sa.String(length=200), nullable=False),
    sa.Column('party', sa.String(length=200), nullable=False),
    sa.Column('counterparty', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.Numeric(precision=38, scale=18), nullable=False),
    sa.Column('asset', sa.String(length=16), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('country', sa.String(length=2), nullable=True),
    _tz('occurred_at', False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('usd_value', sa.Numeric(precision=38, scale=18), nullable=True),
    sa.Column('valuation', JSONB, nullable=True),
    sa.Column('score', sa.Numeric(precision=5, scale=4), nullable=True),
    sa.Column('level', sa.String(length=8), nullable=True),
    sa.Column('fired', JSONB, nullable=True),
    sa.Column('rules_version', sa.String(length=64), nullable=True),
    sa.Column('alert_id', sa.String(length=64), nullable=True),
    _tz('accepted_at', False, True), _tz('completed_at'),
    sa.CheckConstraint('amount > 0', name='amount_positive'),
    sa.CheckConstraint("status IN ('pending', 'completed')", name='status_known'),
    sa.PrimaryKeyConstraint('check_id')
    )
    op.create_index('ix_aml_checks_party_time', 'aml_checks', ['party', 'occurred_at'])
    op.create_table('compliance_alerts',
    sa.Column('alert_id', sa.String(length=64), nullable=False),
    sa.Column('dedup_key', sa.String(length=300), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('party', sa.String(length=200), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('check_id', sa.String(length=200), nullable=True),
    sa.Column('details', JSONB, nullable=False),
    sa.Column('history', JSONB, nullable=False),
    _tz('opened_at', False, True), _tz('updated_at', False, True),
    sa.CheckConstraint("level IN ('low', 'medium', 'high')", name='level_known'),
    sa.CheckConstraint("status IN ('open', 'investigating', 'resolved', 'false_positive')", name='status_known'),
    sa.PrimaryKeyConstraint('alert_id'),
    sa.UniqueConstraint('dedup_key')
    )
    op.create_index('ix_compliance_alerts_party_status', 'compliance_alerts', ['party', 'status'])

    op.create_table('sanctions_list_versions',
    sa.Column('version_id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('entry_count', sa.Integer(), nullable=False),
    sa.Column('alias_count', sa.Integer(), nullable=False),
    sa.Column('address_count', sa.Integer(), nullable=False),
    sa.Column('location_count', sa.Integer(), nullable=False),
    _tz('loaded_at', False, True),
    sa.CheckConstraint("status IN ('active', 'superseded')", name='status_known'),
    sa.PrimaryKeyConstraint('version_id')
    )
    op.create_index('ux_sanctions_list_active', 'sanctions_list_versions', ['source'],
                    unique=True, postgresql_where=sa.text("status = 'active'"))
    op.create_table('sanctions_entries',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('sdn_type', sa.String(length=16), nullable=False),
    sa.Column('programs', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('remarks', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['version_id'], ['sanctions_list_versions.version_id']),
    sa.PrimaryKeyConstraint('version_id', 'uid')
    )
    op.create_table('sanctions_names',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('normalised', sa.Text(), nullable=False),
    _entry_fk(),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_sanctions_names_version', 'sanctions_names', ['version_id', 'uid'])
    op.create_table('sanctions_addresses',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=16), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('address_lower', sa.String(length=200), nullable=False),
    _entry_fk(),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_sanctions_addresses_lookup', 'sanctions_addresses',
                    ['address_lower', 'version_id'])
    op.create_table('sanctions_locations',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('uid', sa.Integer(), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('country', sa.Text(), nullable=True),
    _entry_fk(),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_sanctions_locations_version', 'sanctions_locations', ['version_id', 'uid'])

    op.create_table('screening_subjects',
    sa.Column('party', sa.String(length=200), nullable=False),
    sa.Column('names_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('pii_key_id', sa.String(length=16), nullable=True),
    sa.Column('name_count', sa.Integer(), nullable=False),
    sa.Column('addresses', JSONB, nullable=False),
    _tz('created_at', False, True), _tz('updated_at', False, True),
    sa.PrimaryKeyConstraint('party')
    )
    op.create_table('screenings',
    sa.Column('screening_id', sa.String(length=200), nullable=False),
    sa.Column('party', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('list_version_id', sa.Integer(), nullable=True),
    sa.Column('decision', sa.String(length=8), nullable=True),
    sa.Column('hits', JSONB, nullable=True),
    sa.Column('screened', JSONB, nullable=True),
    sa.Column('rescreen_run_id', sa.String(length=64), nullable=True),
    _tz('requested_at', False, True), _tz('completed_at'),
    sa.CheckConstraint("decision IS NULL OR decision IN ('clear', 'possible', 'match')", name='decision_known'),
    sa.CheckConstraint("status IN ('pending', 'completed')", name='status_known'),
    sa.PrimaryKeyConstraint('screening_id')
    )
    op.create_index('ix_screenings_party_completed', 'screenings', ['party', 'completed_at'])
    op.create_table('rescreen_runs',
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('list_version_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('total_parties', sa.Integer(), nullable=False),
    sa.Column('chunk_count', sa.Integer(), nullable=False),
    sa.Column('chunks_done', sa.Integer(), nullable=False),
    sa.Column('parties_done', sa.Integer(), nullable=False),
    sa.Column('new_hits', sa.Integer(), nullable=False),
    _tz('created_at', False, True), _tz('planned_at'), _tz('finished_at'),
    sa.CheckConstraint("status IN ('planned', 'running', 'completed')", name='status_known'),
    sa.ForeignKeyConstraint(['list_version_id'], ['sanctions_list_versions.version_id']),
    sa.PrimaryKeyConstraint('run_id')
    )
    op.create_table('rescreen_chunks',
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('parties', JSONB, nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('new_hits', sa.Integer(), nullable=False),
    _tz('finished_at'),
    sa.ForeignKeyConstraint(['run_id'], ['rescreen_runs.run_id']),
    sa.PrimaryKeyConstraint('run_id', 'seq')
    )


def downgrade() -> None:
    for table in ('rescreen_chunks', 'rescreen_runs', 'screenings', 'screening_subjects',
                  'sanctions_locations', 'sanctions_addresses', 'sanctions_names',
                  'sanctions_entries', 'sanctions_list_versions', 'compliance_alerts',
                  'aml_checks', 'kyc_case_events', 'kyc_cases'):
        op.drop_table(table)
