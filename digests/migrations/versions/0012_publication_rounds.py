"""publication rounds: a post is published once unless the admin says --again

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('publication', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('round', sa.Integer(), nullable=False, server_default='1'))
    # Existing rows: the digest's revision, and rounds numbered per post in publishing order
    # (a post published twice before this fix has rounds 1 and 2), so the key below holds.
    op.execute(
        "UPDATE publication SET revision = COALESCE("
        "(SELECT digest.revision FROM digest WHERE digest.id = publication.digest_id), 1)"
    )
    op.execute(
        "UPDATE publication SET round = (SELECT COUNT(*) FROM publication AS earlier "
        "WHERE earlier.post_id = publication.post_id AND earlier.id <= publication.id)"
    )
    with op.batch_alter_table('publication', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_publication_post_round', ['post_id', 'round'])


def downgrade() -> None:
    with op.batch_alter_table('publication', schema=None) as batch_op:
        batch_op.drop_constraint('uq_publication_post_round', type_='unique')
        batch_op.drop_column('round')
        batch_op.drop_column('revision')
