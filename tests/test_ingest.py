"""Storing posts: new, unchanged, revised; one transaction per post; a bad file never stops a
batch. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import func, select

from digests import store
from digests.ingest.core import IngestContext, ingest, save_draft, save_drafts
from digests.ingest.draft import Draft, Outcome
from digests.models import Post, PostRevision
from tests.conftest import EXAMPLES, SHANGHAI

POST = """---
title: {title}
date: 2026-03-02 09:30:00
link: weekly
categories: [投研]
---

## 本周风险

美国CPI周五公布。{extra}
"""


async def run(ctx: IngestContext, *targets: str | Path) -> list[Outcome]:
    return [o async for o in ingest([str(t) for t in targets], ctx)]


async def count(ctx: IngestContext, model: type) -> int:
    async with ctx.sessions() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def test_seed_post_is_stored_with_plain_text_links_and_images(ctx: IngestContext) -> None:
    """The seed post lands whole: markdown, plain text, its link and image, gated."""
    [outcome] = await run(ctx, EXAMPLES / "2-10-zhui-zong.md")
    assert outcome.line().split()[:2] == ["new", "2-10-zhui-zong"]
    async with ctx.sessions() as session:
        post = await store.get_post_by_slug(session=session, slug="2-10-zhui-zong")
    assert post is not None and post.gated and post.revision == 1 and post.digest_stale
    assert "小熊团队" in post.body_text and "**" not in post.body_text
    assert post.links[0]["text"] == "字节概念"
    assert post.images[0]["url"].endswith(".webp")
    assert post.published_at.isoformat() == "2026-02-12T05:27:29+00:00"


async def test_reingesting_unchanged_content_writes_nothing(ctx: IngestContext) -> None:
    """Second run reports unchanged and adds no revision."""
    await run(ctx, EXAMPLES)
    again = await run(ctx, EXAMPLES)
    assert {o.status for o in again} == {"unchanged"}
    assert await count(ctx, PostRevision) == await count(ctx, Post)


async def test_changed_content_becomes_a_new_revision_and_marks_digest_stale(
    ctx: IngestContext, tmp_path: Path
) -> None:
    """An edit keeps history: revision 2 exists beside revision 1, and the digest is stale."""
    path = tmp_path / "weekly.md"
    path.write_text(POST.format(title="周报", extra=""), encoding="utf-8")
    assert [o.status for o in await run(ctx, path)] == ["new"]
    async with ctx.sessions() as session, session.begin():
        post = await store.get_post_by_slug(session=session, slug="weekly")
        assert post is not None
        post.digest_stale = False  # as if summarised
    path.write_text(POST.format(title="周报（修订）", extra="非农周三。"), encoding="utf-8")
    [outcome] = await run(ctx, path)
    assert (outcome.status, outcome.detail) == ("updated", "周报（修订）")
    async with ctx.sessions() as session:
        post = await store.get_post_by_slug(session=session, slug="weekly")
        assert post is not None
        revisions = await store.list_revisions(session=session, post_id=post.id or 0)
    assert post.revision == 2 and post.digest_stale and "非农周三" in post.body_text
    assert [(r.revision, r.title) for r in revisions] == [(1, "周报"), (2, "周报（修订）")]


async def test_whitespace_only_edits_are_not_revisions(ctx: IngestContext, tmp_path: Path) -> None:
    """CRLF line endings and trailing spaces do not make a new revision."""
    path = tmp_path / "weekly.md"
    text = POST.format(title="周报", extra="")
    path.write_text(text, encoding="utf-8")
    await run(ctx, path)
    path.write_bytes(text.replace("\n", "  \r\n").encode())
    assert [o.status for o in await run(ctx, path)] == ["unchanged"]


async def test_bad_files_fail_alone_and_the_batch_goes_on(
    ctx: IngestContext, tmp_path: Path
) -> None:
    """Broken, dateless, binary and duplicate-slug files each fail with a reason; good ones land."""
    (tmp_path / "a-good.md").write_text(POST.format(title="好", extra=""), encoding="utf-8")
    (tmp_path / "b-broken.md").write_text("---\ntitle: [x\n---\n", encoding="utf-8")
    (tmp_path / "c-nodate.md").write_text("---\ntitle: 无日期\n---\n正文", encoding="utf-8")
    (tmp_path / "d-binary.md").write_bytes(b"\x00\x01\x02")
    (tmp_path / "e-same-link.md").write_text(POST.format(title="重复", extra=""), "utf-8")
    (tmp_path / "notes.txt").write_text("not a post", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nested.md").write_text(
        "---\ntitle: 子目录\ndate: 2026-01-05\n---\n正文", encoding="utf-8"
    )
    outcomes = await run(ctx, tmp_path, tmp_path / "missing.md")
    by_status = {(o.status, Path(o.slug).name) for o in outcomes}
    assert ("new", "weekly") in by_status and ("new", "nested") in by_status
    failed = {Path(o.slug).name: o.detail for o in outcomes if o.failed}
    assert set(failed) == {
        "b-broken.md",
        "c-nodate.md",
        "d-binary.md",
        "e-same-link.md",
        "missing.md",
    }
    assert "not valid YAML" in failed["b-broken.md"]
    assert "no date" in failed["c-nodate.md"]
    assert "already used by" in failed["e-same-link.md"]
    assert await count(ctx, Post) == 2 and await count(ctx, PostRevision) == 2


async def test_same_slug_from_another_source_keeps_the_first(ctx: IngestContext) -> None:
    """A post first ingested from the folder is not overwritten by another source's rendering."""
    await run(ctx, EXAMPLES / "2-10-zhui-zong.md")
    async with ctx.sessions() as session:
        post = await store.get_post_by_slug(session=session, slug="2-10-zhui-zong")
    assert post is not None
    other = Draft(
        slug=post.slug,
        source="feed",
        title="x",
        published_at=post.published_at,
        body_markdown="different",
    )
    outcome = await save_draft(other, ctx.sessions)
    assert outcome.status == "unchanged" and "kept from hexo" in outcome.detail


async def test_a_post_the_database_refuses_fails_alone_in_a_bulk_insert(
    ctx: IngestContext,
) -> None:
    """When a chunk's transaction fails, its posts are retried singly: only the bad one fails."""
    when = datetime(2026, 3, 1, 9, tzinfo=SHANGHAI)
    drafts = [
        Draft(slug="ok-1", source="hexo", title="一", published_at=when, body_markdown="正文"),
        Draft(
            slug="bad",
            source="hexo",
            title="坏",
            published_at=None,  # type: ignore[arg-type]
            body_markdown="NOT NULL violated",
        ),
        Draft(slug="ok-2", source="hexo", title="二", published_at=when, body_markdown="正文"),
    ]
    drafts[1].__dict__["content_hash"] = "x" * 64  # the hash would need the date
    outcomes = [o async for o in save_drafts(drafts, ctx)]
    assert [(o.status, o.slug) for o in outcomes] == [
        ("new", "ok-1"),
        ("failed", "bad"),
        ("new", "ok-2"),
    ]
    assert "database refused" in outcomes[1].detail
    assert await count(ctx, Post) == 2 and await count(ctx, PostRevision) == 2


async def test_an_impossible_date_fails_that_file_alone(ctx: IngestContext, tmp_path: Path) -> None:
    """2026-02-30 and year 1 each get one failed line with a sentence; the rest is stored."""
    (tmp_path / "a-feb-30.md").write_text("---\ntitle: 坏\ndate: 2026-02-30 10:00:00\n---\nx")
    (tmp_path / "b-year-1.md").write_text("---\ntitle: 古\ndate: 0001-01-01\n---\nx")
    (tmp_path / "c-good.md").write_text(POST.format(title="好", extra=""), encoding="utf-8")
    outcomes = await run(ctx, tmp_path)
    failed = {Path(o.slug).name: o.detail for o in outcomes if o.failed}
    assert failed == {
        "a-feb-30.md": "date 2026-02-30 10:00:00 is not a real date",
        "b-year-1.md": "date 0001-01-01 is out of range (years 1900–2999)",
    }
    assert [(o.status, o.slug) for o in outcomes if not o.failed] == [("new", "weekly")]
    assert await count(ctx, Post) == 1


async def test_an_unforeseen_error_in_one_post_is_its_failed_line(
    ctx: IngestContext, caplog: pytest.LogCaptureFixture
) -> None:
    """A value the store cannot take (a year-1 instant, bypassing the parser's checks) fails
    that post with a sentence and a logged trace; the posts around it are stored."""
    when = datetime(2026, 3, 1, 9, tzinfo=SHANGHAI)
    year_one = datetime(1, 1, 1, tzinfo=SHANGHAI)  # before datetime's first UTC instant
    drafts = [
        Draft(slug="ok-1", source="hexo", title="一", published_at=when, body_markdown="正文"),
        Draft(slug="odd", source="hexo", title="怪", published_at=year_one, body_markdown="x"),
        Draft(slug="ok-2", source="hexo", title="二", published_at=when, body_markdown="正文"),
    ]
    with caplog.at_level(logging.INFO, logger="digests.ingest.core"):
        outcomes = [o async for o in save_drafts(drafts, ctx)]
    assert [(o.status, o.slug) for o in outcomes] == [
        ("new", "ok-1"),
        ("failed", "odd"),
        ("new", "ok-2"),
    ]
    assert "could not be processed" in outcomes[1].detail
    assert any(r.exc_info and "odd" in r.getMessage() for r in caplog.records)
    assert await count(ctx, Post) == 2
