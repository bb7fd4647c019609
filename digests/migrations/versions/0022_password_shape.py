"""access_password.shape: the shape of a period's password (character classes and length), so
that only a message shaped like one counts as an unlock attempt

Revision ID: 0022
Revises: 0016
Create Date: 2026-12-07 22:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0022'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # passwords stored before this revision have no shape: filled in by their next unlock
    with op.batch_alter_table('access_password', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'shape',
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default='',
            )
        )


def downgrade() -> None:
    with op.batch_alter_table('access_password', schema=None) as batch_op:
        batch_op.drop_column('shape')
