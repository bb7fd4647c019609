"""An admin's post before it goes out: their text or .md file becomes a stored post
(admin_draft, post_and_preview), its digest is previewed with 发布 / 重新生成 / 丢弃 (preview),
and a post never published may be discarded."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlmodel import select

from digests.errors import RejectedInput
from digests.ingest.core import save_draft
from digests.ingest.draft import Draft
from digests.ingest.hexo import parse_post
from digests.models import Post, utcnow
from digests.publishing.context import AdminContext
from digests.replies import DigestView, Reply
from digests.summarize import digesting
from digests.summarize.schema import Digest


def admin_draft(
    text: str, *, ctx: AdminContext, name: str = "", now: datetime | None = None
) -> Draft:
    """A post from an admin's text or .md file: Hexo front matter if present, else the first
    line is the title and the post is dated now."""
    now = now or utcnow()
    # The second alone is not unique: two notes sent in the same second would be one post
    # (the second overwriting the first, and both previews' 发布 publishing it). A hash of
    # the text tells them apart; the same text twice is the same note.
    stamp = f"{now.astimezone(ctx.store.tz):%Y%m%d-%H%M%S}-{_text_hash(text)}"
    if text.lstrip().startswith("---"):
        stem = re.sub(r"\.(md|markdown)$", "", name) or f"post-{stamp}"
        return parse_post(
            text.encode(), stem=stem, source_ref=name or "admin", tz=ctx.store.tz, source="admin"
        )
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise RejectedInput("the post is empty")
    title = lines[0].lstrip("#").strip()[:80]
    return Draft(
        slug=f"note-{stamp}",
        source="admin",
        title=title,
        published_at=now,
        body_markdown=text.strip(),
        source_ref=name or "admin",
    )


def _text_hash(text: str) -> str:
    """Eight hex digits of the text's SHA-256: a collision within one second is unlikely
    below tens of thousands of notes."""
    return hashlib.sha256(text.strip().encode()).hexdigest()[:8]


async def post_and_preview(ctx: AdminContext, draft: Draft) -> Reply:
    """Store the admin's post, digest it, and answer a preview with 发布 / 重新生成 / 丢弃."""
    outcome = await save_draft(draft, ctx.ingest.sessions)
    if outcome.failed:
        return Reply(f"没有保存：{outcome.detail}")
    return await preview(ctx, draft.slug)


async def preview(
    ctx: AdminContext, slug: str, *, refresh: bool = False, replace_edit: bool = False
) -> Reply:
    """A post's digest with the review buttons (EditedDigest: `refresh` would replace an
    admin's edit, and `replace_edit` does not say to)."""
    post = await digesting.find_post(ctx.digests, slug)
    stored = await digesting.digest_post(
        ctx.digests, post, refresh=refresh, replace_edit=replace_edit
    )
    if stored.status == "pending":
        return Reply(
            f"摘要暂时无法生成（{stored.error}），稍后自动重试；也可点“重新生成”。",
            choices=[("重新生成", f"regen:{slug}"), ("丢弃", f"discard:{slug}")],
        )
    review = "⚠️ 需要人工审核：摘要没有板块或标题，或不是原文的语言。\n"
    warn = review if stored.status == "needs_review" else ""
    if refresh and stored.error:
        warn += f"⚠️ 重新生成失败（{stored.error}），下面仍是之前的摘要。\n"
    shown = DigestView(
        Digest.model_validate(stored.data),
        post.title,
        stored.mode == "extractive",
        0,
        stored.disclaimer,
    )
    kind = "会员" if post.gated else "公开"
    return Reply(
        f"{warn}预览《{post.title}》（{kind}）：",
        digest=shown,
        choices=[
            ("发布", f"publish:{slug}"),
            ("重新生成", f"regen:{slug}"),
            ("丢弃", f"discard:{slug}"),
        ],
    )


async def discard(ctx: AdminContext, slug: str) -> Reply:
    """丢弃: forget an admin-posted post that was never published."""
    async with ctx.store.sessions() as session, session.begin():
        post = (await session.exec(select(Post).where(Post.slug == slug))).first()
        if post is None:
            return Reply(f"没有 {slug}。")
        await session.delete(post)
    return Reply(f"已丢弃《{post.title}》。")
