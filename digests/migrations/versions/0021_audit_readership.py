"""audit and readership: what each delivery sent (hash, policy), when readers stopped, and
readers' page opens and button taps

Revision ID: 0021
Revises: 0018
Create Date: 2026-11-30 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digests.models


revision: str = '0021'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'content_sha256',
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default='',
            )
        )
        batch_op.add_column(
            sa.Column(
                'policy',
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default='',
            )
        )
        batch_op.create_index('ix_delivery_created_at', ['created_at'], unique=False)
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('stopped_at', digests.models.UTCDateTime(timezone=True), nullable=True)
        )
    # readers who stopped before this revision: their last change is the best date there is
    op.execute(
        "UPDATE subscriber SET stopped_at = updated_at WHERE status IN ('stopped', 'gone')"
    )
    op.create_table(
        'reader_action',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=False),
        sa.Column('publication_id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['publication_id'], ['publication.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_reader_action_subscriber_id', 'reader_action', ['subscriber_id'])
    op.create_index(
        'ix_reader_action_publication', 'reader_action', ['publication_id', 'kind']
    )


def downgrade() -> None:
    op.drop_index('ix_reader_action_publication', table_name='reader_action')
    op.drop_index('ix_reader_action_subscriber_id', table_name='reader_action')
    op.drop_table('reader_action')
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.drop_column('stopped_at')
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_created_at')
        batch_op.drop_column('policy')
        batch_op.drop_column('content_sha256')
