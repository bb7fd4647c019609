"""The review use cases: open a post's digest for review, and submit an edit of it (from the
review page or as the compact text of plain.py). A submitted edit is refused whole when the
schema or the limits refuse a line (`Refused`: the reasons, nothing saved, the caller keeps the
author's text), saved otherwise, with the gate's warnings, as the digest's next revision;
an edit made on an older revision raises StaleRevision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select

from digests import names as securities
from digests import store
from digests.errors import NotFound, RejectedInput, StaleRevision
from digests.models import DigestRevision, Post, Publication, StoredDigest
from digests.review import check, plain
from digests.review.check import PostText
from digests.review.revisions import Saved, save
from digests.summarize import digesting
from digests.summarize.digesting import DigestContext
from digests.summarize.schema import Digest


@dataclass
class Review:
    """A post's digest as the review page shows it."""

    post: Post
    row: StoredDigest
    digest: Digest
    text: PostText  # the post's numbered sentences
    revisions: list[DigestRevision] = field(default_factory=list)  # newest first, no texts

    @property
    def dropped(self) -> dict[str, Any]:
        return self.row.dropped


@dataclass(frozen=True)
class Refused:
    """An edit not saved: a sentence per problem (`unchanged`: it changed nothing)."""

    problems: list[str]
    unchanged: bool = False


UNCHANGED = "没有改动，未保存新版本。"
HISTORY = 30  # revisions the page lists


def _names(ctx: DigestContext) -> Any:
    return ctx.names or securities.load()


async def open_review(ctx: DigestContext, post_id: int) -> Review:
    """The post's digest (made now if it has none: the model may take a while), its revisions
    and the post's sentences; NotFound for a post that is gone or a digest still pending."""
    async with ctx.sessions() as session:
        post = await session.get(Post, post_id)
    if post is None:
        raise NotFound("这篇文章已不存在。")
    row = await digesting.digest_post(ctx, post)
    if row.status == "pending":
        raise NotFound(f"《{post.title}》的摘要还没有生成（{row.error}）。")
    async with ctx.sessions() as session:
        revisions = list(
            await store.list_digest_revisions(session=session, digest_id=row.id or 0, limit=HISTORY)
        )
    text = PostText.of(post.title, post.body_markdown or post.body_text, _names(ctx))
    return Review(post, row, Digest.model_validate(row.data), text, revisions)


async def submit(
    ctx: DigestContext,
    review: Review,
    new: Digest,
    *,
    base: int,
    author: str,
    dropped: dict[str, Any] | None = None,
    restored: list[str] | None = None,
) -> Saved | Refused:
    """Check `new` against the post and save it as revision base + 1 (see the module
    docstring); `dropped` is the gate's record without the items the author restored
    (`restored`, a line each for the record)."""
    if review.row.current_revision != base:
        raise StaleRevision(base, review.row.current_revision)
    problems = check.problems(new, review.text)
    if problems:
        return Refused(problems)
    new = check.finish(new, review.text, review.digest)
    changes = [*(f"恢复：{line}" for line in restored or []), *check.changes(review.digest, new)]
    if not changes:
        return Refused([UNCHANGED], unchanged=True)
    warnings = check.opinion(review.digest, new, review.text)
    return await save(
        ctx,
        review.row.id or 0,
        base=base,
        digest=new,
        dropped=review.dropped if dropped is None else dropped,
        author=author,
        changes=changes,
        warnings=warnings,
    )


async def submit_text(ctx: DigestContext, text: str, *, replying_to: str, author: str) -> Saved:
    """An edit sent as compact text in reply to the text plain.py made (`replying_to`, whose
    header names the post and the revision): Malformed, Refused (raised as RejectedInput),
    StaleRevision or NotFound leave the digest as it was."""
    header = plain.read_header(replying_to)
    if header is None:
        raise NotFound("回复的不是“编辑”发出的摘要文本。")
    new = plain.from_text(text)
    post = await digesting.find_post(ctx, header.slug)
    review = await open_review(ctx, post.id or 0)
    outcome = await submit(ctx, review, new, base=header.revision, author=author)
    if isinstance(outcome, Refused):
        raise RejectedInput("；".join(outcome.problems))
    return outcome


def saved_lines(saved: Saved) -> str:
    """What a saved edit did, for the admin: its number, the changes, the gate's warnings."""
    lines = [f"已保存为第 {saved.number} 版：", *saved.changes[:10]]
    lines += [f"⚠️ 闸门：{w['where']}「{w['text']}」{w['why']}" for w in saved.warnings]
    return "\n".join(lines)


async def published_before(ctx: DigestContext, row: StoredDigest) -> bool:
    """This digest went out before, but never in its current revision (an edit or a
    regeneration since): publishing it is a round of --again, to the readers who have not got
    this text. A new revision of the post is another digest, and keeps to --again as typed."""
    query = select(Publication.digest_revision).where(Publication.digest_id == row.id)
    async with ctx.sessions() as session:
        sent = set((await session.exec(query)).all())
    return bool(sent) and row.current_revision not in sent


async def is_unsent_fix(ctx: DigestContext, slug: str) -> bool:
    """published_before() of the post's digest, by slug (False for no such post)."""
    try:
        post = await digesting.find_post(ctx, slug)
    except NotFound:
        return False
    return await published_before(ctx, await digesting.digest_post(ctx, post))


async def as_text(ctx: DigestContext, slug: str) -> str:
    """The post's digest as compact text under its header, for the admin to edit."""
    post = await digesting.find_post(ctx, slug)
    review = await open_review(ctx, post.id or 0)
    return plain.to_text(review.digest, slug=post.slug, revision=review.row.current_revision)
