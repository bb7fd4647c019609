"""watchlists: the stocks and sectors each reader follows, and the names each publication holds

Revision ID: 0015
Revises: 0017
Create Date: 2026-11-30 06:00:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digests.models
from digests.watch.names import keys_in


revision: str = '0015'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'watch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscriber_id', sa.Integer(), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('created_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subscriber_id', 'key'),
    )
    op.create_index('ix_watch_key', 'watch', ['key'])
    names = op.create_table(
        'digest_name',
        sa.Column('publication_id', sa.Integer(), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(['publication_id'], ['publication.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('publication_id', 'key'),
    )
    op.create_index('ix_digest_name_key', 'digest_name', ['key'])
    # what was published before: its names, as publishing records them from now on
    found = op.get_bind().execute(
        sa.text('SELECT p.id, d.data FROM publication p JOIN digest d ON d.id = p.digest_id')
    )
    rows = [
        {'publication_id': pid, 'key': key}
        for pid, data in found
        for key in {k[:100] for k in keys_in(json.loads(data) if isinstance(data, str) else data)}
    ]
    if rows:
        op.bulk_insert(names, rows)


def downgrade() -> None:
    op.drop_index('ix_digest_name_key', table_name='digest_name')
    op.drop_table('digest_name')
    op.drop_index('ix_watch_key', table_name='watch')
    op.drop_table('watch')
