"""What a reader reads: /latest, /digests and one publication, or how to unlock it."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.models import (
    Post,
    Publication,
    Subscriber,
)
from digests.readers import access
from digests.readers.passwords import grants_of
from digests.replies import Reply, StoreContext, command, view

LOCKED = (
    "《{title}》是会员文章。发送本月密码（或 "
    + command("unlock", "密码")
    + "）解锁后即可阅读摘要。"
)


async def is_entitled(
    session: AsyncSession, subscriber: Subscriber, post: Post, publication: Publication
) -> bool:
    """Entitlement now, from the database, to this publication of the post (a Stars or code
    grant covers what was published while it ran: digests/entitlement.py)."""
    if subscriber.status != "active" or subscriber.id is None:
        return False
    grants = await grants_of(session, subscriber.id)
    return access.entitled(
        gated=post.gated,
        published_at=post.published_at,
        grants=grants,
        released_at=publication.published_at,
    )


async def open_publication(ctx: StoreContext, subscriber: Subscriber, publication_id: int) -> Reply:
    """One published digest, or how to unlock it."""
    async with ctx.sessions() as session:
        publication = await session.get(Publication, publication_id)
        if publication is None:
            return Reply("找不到这篇摘要。")
        post, shown = await view(session, publication, ctx)
        if await is_entitled(session, subscriber, post, publication):
            return Reply(digest=shown)
    return Reply(LOCKED.format(title=post.title))


async def latest(ctx: StoreContext, subscriber: Subscriber) -> Reply:
    """/latest: the newest published digest the subscriber may read (or how to unlock it)."""
    rows = await _publications(ctx, limit=1)
    if not rows:
        return Reply("还没有发布的摘要。")
    return await open_publication(ctx, subscriber, rows[0].id or 0)


async def recent(ctx: StoreContext, subscriber: Subscriber) -> Reply:
    """/digests: the last 10 publications as buttons; locked ones marked."""
    rows = await _publications(ctx, limit=10)
    if not rows:
        return Reply("还没有发布的摘要。")
    choices = []
    async with ctx.sessions() as session:
        for publication in rows:
            post, _ = await view(session, publication)
            lock = "" if await is_entitled(session, subscriber, post, publication) else "🔒 "
            day = post.published_at.astimezone(ctx.tz).strftime("%m-%d")
            choices.append((f"{lock}{day} {post.title}"[:60], f"open:{publication.id}"))
    return Reply("最近的摘要：", choices=choices)


async def _publications(ctx: StoreContext, *, limit: int) -> list[Publication]:
    async with ctx.sessions() as session:
        query = (
            select(Publication)
            .order_by(col(Publication.published_at).desc(), col(Publication.id).desc())
            .limit(limit)
        )
        return list((await session.exec(query)).all())
