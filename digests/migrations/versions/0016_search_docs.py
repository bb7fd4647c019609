"""search docs and /ask: the archive index (SQLite FTS5, PostgreSQL GIN), answers, asks

Revision ID: 0016
Revises: 0020
Create Date: 2026-11-30 06:00:00.000000
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import digests.models
from digests.index.documents import Doc, digest_text, post_doc

revision: str = "0016"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE = (
    "CREATE VIRTUAL TABLE search_fts USING fts5(title_tokens, body_tokens,"
    " content='search_doc', content_rowid='order_key')",
    "CREATE TRIGGER search_doc_ai AFTER INSERT ON search_doc BEGIN"
    " INSERT INTO search_fts(rowid, title_tokens, body_tokens)"
    " VALUES (new.order_key, new.title_tokens, new.body_tokens); END",
    "CREATE TRIGGER search_doc_ad AFTER DELETE ON search_doc BEGIN"
    " INSERT INTO search_fts(search_fts, rowid, title_tokens, body_tokens)"
    " VALUES ('delete', old.order_key, old.title_tokens, old.body_tokens); END",
    "CREATE TRIGGER search_doc_au AFTER UPDATE ON search_doc BEGIN"
    " INSERT INTO search_fts(search_fts, rowid, title_tokens, body_tokens)"
    " VALUES ('delete', old.order_key, old.title_tokens, old.body_tokens);"
    " INSERT INTO search_fts(rowid, title_tokens, body_tokens)"
    " VALUES (new.order_key, new.title_tokens, new.body_tokens); END",
)
_POSTGRES = (
    "ALTER TABLE search_doc ADD COLUMN tsv tsvector, ADD COLUMN ttsv tsvector",
    "CREATE FUNCTION search_doc_tsv() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " NEW.ttsv := to_tsvector('simple', NEW.title_tokens);"
    " NEW.tsv := NEW.ttsv || to_tsvector('simple', NEW.body_tokens); RETURN NEW; END $$",
    "CREATE TRIGGER search_doc_tsv BEFORE INSERT OR UPDATE ON search_doc"
    " FOR EACH ROW EXECUTE FUNCTION search_doc_tsv()",
    "CREATE INDEX ix_search_doc_tsv ON search_doc USING gin (tsv)",
    "CREATE INDEX ix_search_doc_ttsv ON search_doc USING gin (ttsv)",
)


def upgrade() -> None:
    op.create_table(
        "search_doc",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_key", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("published_at", digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("gated", sa.Boolean(), nullable=False),
        sa.Column("title_tokens", sa.Text(), nullable=False),
        sa.Column("body_tokens", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["post.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("post_id", "kind"),
        sa.UniqueConstraint("order_key"),
    )
    op.create_table(
        "ask_answer",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("created_at", digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "ask_use",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("at", digests.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ask_use_reader_at", "ask_use", ["subscriber_id", "at"])
    bind = op.get_bind()
    for statement in _SQLITE if bind.dialect.name == "sqlite" else _POSTGRES:
        op.execute(statement)
    _index_existing(bind)


def _index_existing(bind: sa.Connection) -> None:
    """Every stored post, and the ready digest of its current revision, in chunks."""
    meta = sa.MetaData()
    post = sa.Table("post", meta, autoload_with=bind)
    digest = sa.Table("digest", meta, autoload_with=bind)
    docs = sa.Table("search_doc", meta, autoload_with=bind)
    ready = (
        sa.select(digest.c.post_id, sa.func.max(digest.c.id).label("id"))
        .join(post, sa.and_(post.c.id == digest.c.post_id, post.c.revision == digest.c.revision))
        .where(digest.c.status == "ready")
        .group_by(digest.c.post_id)
        .subquery()
    )
    latest = dict(bind.execute(sa.select(ready.c.post_id, ready.c.id)).all())
    last = 0
    while True:
        rows = bind.execute(
            sa.select(post).where(post.c.id > last).order_by(post.c.id).limit(500)
        ).all()
        if not rows:
            return
        batch = []
        for row in rows:
            doc = post_doc(row._mapping)
            batch.append(doc.row())
            if row.id in latest:
                data = bind.execute(
                    sa.select(digest.c.data).where(digest.c.id == latest[row.id])
                ).scalar_one()
                words = digest_text(json.loads(data) if isinstance(data, str) else data)
                batch.append(Doc(row.id, "digest", row.title, words, row.published_at, row.gated).row())
        bind.execute(docs.insert(), batch)
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_ask_use_reader_at", table_name="ask_use")
    op.drop_table("ask_use")
    op.drop_table("ask_answer")
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")
    else:
        op.execute("DROP FUNCTION search_doc_tsv() CASCADE")
    op.drop_table("search_doc")
