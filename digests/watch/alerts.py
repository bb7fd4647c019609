"""Alerts when a published digest names what readers watch.

- A reader who gets the digest itself (instant delivery, entitled) finds a ⭐ line at the top
  of their copy: `leads()` gives each reader's line; the digest is still rendered once.
- Anyone else watching one of its names gets one alert per post (outbox kind `watch`, ref the
  post id, queued at publish): edition readers, and, with WATCH_TEASERS, readers the gated
  post is locked to. At send time the resolver checks entitlement again: the entitled get the
  title, the names and the points that mention them; the others 🔒 title and names only (or
  nothing without WATCH_TEASERS); a reader who unwatched meanwhile gets nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests.entitlement import active_readers, entitled_among, holds_grant_at
from digests.models import Delivery, Post, Publication, Subscriber, Watch
from digests.outbox.enqueue import queue_rows
from digests.outbox.types import Batch, ClaimedRow
from digests.replies import DigestView, Reply, StoreContext, view
from digests.summarize.schema import Digest
from digests.watch import names

KIND = "watch"
LOCKED = "🔒《{title}》（{day}）是会员文章：发送本月密码解锁后即可阅读要点。"
MAX_CHARS = 3500  # an alert stays one message on every channel (WeChat clips to its bytes)


async def watched_by(
    session: AsyncSession, readers: set[int], digest: Digest
) -> dict[int, set[str]]:
    """Of these readers, who watches which of the digest's names (by key): one query."""
    keys = set(names.named(digest))
    if not readers or not keys:
        return {}
    query = select(Watch.subscriber_id, Watch.key).where(
        col(Watch.subscriber_id).in_(readers), col(Watch.key).in_(keys)
    )
    found: dict[int, set[str]] = {}
    for reader, key in (await session.exec(query)).all():
        found.setdefault(reader, set()).add(key)
    return found


async def leads(session: AsyncSession, readers: set[int], digest: Digest) -> dict[int, str]:
    """Each reader's ⭐ line for this digest (readers watching none of its names are absent)."""
    watched = await watched_by(session, readers, digest)
    return {r: names.star_line(names.matched(digest, keys)) for r, keys in watched.items()}


async def queue_alerts(
    session: AsyncSession, post: Post, digest: Digest, *, released_at: datetime, teasers: bool
) -> int:
    """At publish (`released_at`): one `watch` row per reader who watches a name of the digest
    and does not get the digest itself now, unless they have one for this post already (once
    per post); `teasers` (WATCH_TEASERS) adds readers the gated post is locked to."""
    keys = set(names.named(digest))
    if not keys or post.id is None:
        return 0
    ref = str(post.id)
    watchers = select(Watch.subscriber_id).where(col(Watch.key).in_(keys))
    alerted = select(Delivery.subscriber_id).where(
        col(Delivery.kind) == KIND, col(Delivery.ref) == ref
    )
    readers = active_readers().where(
        col(Subscriber.id).in_(watchers), col(Subscriber.id).not_in(alerted)
    )
    edition = col(Subscriber.delivery) == "edition"
    entitled = holds_grant_at(post.published_at, released_at=released_at)
    if not post.gated:
        readers = readers.where(edition)
    elif teasers:  # edition readers, and every reader it is locked to
        readers = readers.where(or_(edition, ~entitled))
    else:  # only edition readers who may read it
        readers = readers.where(edition, entitled)
    return await queue_rows(session, KIND, ref, readers)


async def resolve(batch: Batch, rows: list[ClaimedRow]) -> dict[int, Reply | None]:
    """The outbox kind `watch`: each row's alert, built from the post's newest publication
    and the reader's watchlist and entitlement now."""
    found: dict[int, Reply | None] = {}
    for ref in {row.ref for row in rows}:
        mine = [row for row in rows if row.ref == ref]
        shown = await _newest(batch, ref)
        if shown is None:
            found.update((row.id, None) for row in mine)
            continue
        post, digest, released = shown
        readers = {row.subscriber_id for row in mine if row.subscriber_id in batch.readers}
        watched = await watched_by(batch.session, readers, digest.digest)
        allowed = await entitled_among(batch.session, readers, post, released_at=released)
        for row in mine:
            keys = watched.get(row.subscriber_id)
            entitled = row.subscriber_id in allowed
            if not keys or not (entitled or batch.ctx.watch_teasers):
                found[row.id] = None
                continue
            cache_key = f"watch:{ref}:{entitled}:{sorted(keys)}"
            if cache_key not in batch.cache:
                entries = names.matched(digest.digest, keys)
                batch.cache[cache_key] = _alert(batch.ctx, post, digest, entries, entitled)
            found[row.id] = batch.cache[cache_key]
    return found


async def _newest(batch: Batch, ref: str) -> tuple[Post, DigestView, datetime] | None:
    """The post's newest publication, viewed, and when it was published."""
    key = f"watch:{ref}"
    if key not in batch.cache:
        query = (
            select(Publication)
            .where(col(Publication.post_id) == int(ref))
            .order_by(col(Publication.round).desc())
        )
        publication = (await batch.session.exec(query)).first()
        batch.cache[key] = (
            (*await view(batch.session, publication, batch.ctx), publication.published_at)
            if publication
            else None
        )
    cached: tuple[Post, DigestView, datetime] | None = batch.cache[key]
    return cached


def _alert(
    ctx: StoreContext,
    post: Post,
    shown: DigestView,
    entries: list[names.NamedInDigest],
    entitled: bool,
) -> Reply:
    """The alert's text: ⭐ names, the title and date, and the points (entitled only)."""
    day = post.published_at.astimezone(ctx.tz).strftime("%Y-%m-%d")
    star = names.star_line(entries)
    if not entitled:
        return Reply(f"{star}\n{LOCKED.format(title=post.title, day=day)}")
    lines = [star, f"《{post.title}》（{day}）"]
    lines += [f"• {point}" for point in names.points_of(entries)]
    text = "\n".join(lines)
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 1] + "…"
    return Reply(text, choices=[("阅读摘要", f"open:{shown.publication_id}")])
