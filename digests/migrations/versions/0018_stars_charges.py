"""stars charges: every Telegram Stars subscription payment, with its grant

Revision ID: 0018
Revises: 0014
Create Date: 2026-11-30 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digests.models


revision: str = '0018'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'stars_charge',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('charge_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column(
            'provider_charge_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False
        ),
        sa.Column('subscriber_id', sa.Integer(), nullable=False),
        sa.Column('grant_id', sa.Integer(), nullable=True),
        sa.Column('amount', sa.Integer(), nullable=False),
        sa.Column('payload', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('recurring', sa.Boolean(), nullable=False),
        sa.Column('first_recurring', sa.Boolean(), nullable=False),
        sa.Column('paid_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('canceled_at', digests.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('refunded_at', digests.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['grant_id'], ['access_grant.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('charge_id'),
    )
    op.create_index('ix_stars_charge_subscriber_id', 'stars_charge', ['subscriber_id'])


def downgrade() -> None:
    op.drop_index('ix_stars_charge_subscriber_id', table_name='stars_charge')
    op.drop_table('stars_charge')
