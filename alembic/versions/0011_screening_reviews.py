"""screening reviews: a reviewer's dismissal or confirmation of a hit, and the sealed secondary
attributes (date of birth, country, entity type) a party is screened with

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('screening_subjects', sa.Column('attributes_sealed', sa.LargeBinary(),
                                                  nullable=True))
    op.create_table('screening_reviews',
    sa.Column('review_id', sa.String(length=64), nullable=False),
    sa.Column('screening_id', sa.String(length=200), nullable=False),
    sa.Column('party', sa.String(length=200), nullable=False),
    sa.Column('list_source', sa.String(length=32), nullable=False),
    sa.Column('entry_uid', sa.Integer(), nullable=True),
    sa.Column('query', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('reviewer', sa.String(length=200), nullable=False),
    sa.Column('api_key_id', sa.String(length=64), nullable=True),
    sa.Column('result_screening_id', sa.String(length=200), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False,
              server_default=sa.text('now()')),
    sa.CheckConstraint("action IN ('dismiss', 'confirm')", name='action_known'),
    sa.ForeignKeyConstraint(['screening_id'], ['screenings.screening_id']),
    sa.PrimaryKeyConstraint('review_id')
    )
    op.create_index('ix_screening_reviews_party', 'screening_reviews', ['party', 'decided_at'])


def downgrade() -> None:
    op.drop_index('ix_screening_reviews_party', table_name='screening_reviews')
    op.drop_table('screening_reviews')
    op.drop_column('screening_subjects', 'attributes_sealed')
