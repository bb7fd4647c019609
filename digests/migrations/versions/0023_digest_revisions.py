"""digest revisions: each version of a digest's text (the model's, an admin's edit), the one a
digest holds now and whether an admin wrote it, and the one each publication sent

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digests.models


revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'digest_revision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('digest_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('dropped', sa.JSON(), nullable=False),
        sa.Column('author', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('changes', sa.JSON(), nullable=False),
        sa.Column('warnings', sa.JSON(), nullable=False),
        sa.Column('created_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['digest_id'], ['digest.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('digest_id', 'number'),
    )
    # plain ADD COLUMN: a batch copy of `digest` would drop the old table, and SQLite's
    # foreign keys would cascade that to every publication
    op.add_column(
        'digest', sa.Column('current_revision', sa.Integer(), nullable=False, server_default='0')
    )
    op.add_column(
        'digest', sa.Column('edited', sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column(
        'publication',
        sa.Column('digest_revision', sa.Integer(), nullable=False, server_default='1'),
    )
    # every made digest as it stands is its revision 1, by the model; what publications sent
    op.execute(
        "INSERT INTO digest_revision "
        "(digest_id, number, data, dropped, author, source, changes, warnings, created_at) "
        "SELECT id, 1, data, dropped, '', 'model', '[]', '[]', updated_at "
        "FROM digest WHERE status != 'pending'"
    )
    op.execute("UPDATE digest SET current_revision = 1 WHERE status != 'pending'")


def downgrade() -> None:
    op.drop_column('publication', 'digest_revision')
    op.drop_column('digest', 'edited')
    op.drop_column('digest', 'current_revision')
    op.drop_table('digest_revision')
