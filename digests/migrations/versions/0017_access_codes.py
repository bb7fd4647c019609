"""one-use redemption codes, and Telegram usernames for finding readers

Revision ID: 0017
Revises: 0021
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digests.models


revision: str = '0017'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'access_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('starts_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ends_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('redeemed_by', sa.Integer(), nullable=True),
        sa.Column('redeemed_at', digests.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('revoked_at', digests.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['redeemed_by'], ['subscriber.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code_hash'),
    )
    op.create_index('ix_access_code_label', 'access_code', ['label'])
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'username',
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default='',
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.drop_column('username')
    op.drop_index('ix_access_code_label', table_name='access_code')
    op.drop_table('access_code')
