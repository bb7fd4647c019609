"""digest runs and output modes: every digest attempt's cost, the mode a server accepts

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digests.models


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'output_mode',
                sqlmodel.sql.sqltypes.AutoString(length=24),
                nullable=False,
                server_default='',
            )
        )
    op.create_table(
        'digest_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('post_id', sa.Integer(), nullable=False),
        sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('output_mode', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column('llm_calls', sa.Integer(), nullable=False),
        sa.Column('failed_calls', sa.Integer(), nullable=False),
        sa.Column('prompt_tokens', sa.Integer(), nullable=False),
        sa.Column('completion_tokens', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('started_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('finished_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['post_id'], ['post.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_digest_run_post_id', 'digest_run', ['post_id'])
    # What the digests made so far cost becomes one run each, so /stats keeps their totals.
    op.execute(
        "INSERT INTO digest_run (post_id, outcome, model, output_mode, llm_calls, failed_calls,"
        " prompt_tokens, completion_tokens, error, started_at, finished_at)"
        " SELECT post_id, CASE WHEN status = 'pending' THEN 'failed' ELSE status END, model, '',"
        " llm_calls, 0, prompt_tokens, completion_tokens, error, updated_at, updated_at"
        " FROM digest WHERE llm_calls > 0"
    )
    op.create_table(
        'llm_mode',
        sa.Column('base_url', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('model', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column('updated_at', digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('base_url', 'model'),
    )


def downgrade() -> None:
    op.drop_table('llm_mode')
    op.drop_index('ix_digest_run_post_id', table_name='digest_run')
    op.drop_table('digest_run')
    with op.batch_alter_table('digest', schema=None) as batch_op:
        batch_op.drop_column('output_mode')
