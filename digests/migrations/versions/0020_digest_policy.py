"""digest policy: the DIGEST_POLICY a digest was made under and the DISCLAIMER it ends with

Revision ID: 0020
Revises: 0015
Create Date: 2026-11-30 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0020'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # digests made before policies existed were made under `full`, with the default line
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'policy',
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default='full',
            )
        )
        batch_op.add_column(sa.Column('disclaimer', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.drop_column('disclaimer')
        batch_op.drop_column('policy')
