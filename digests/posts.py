"""Use cases: what the CLI, the bots and the scheduler ask of the domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

from digests import store
from digests.ingest.core import IngestContext, ingest
from digests.ingest.draft import Outcome
from digests.models import Post
from digests.settings import Settings


def configured_sources(settings: Settings) -> list[str]:
    """What a poll reads: the posts folder, then every feed."""
    folder = [str(settings.posts_dir)] if settings.posts_dir else []
    return folder + list(settings.feed_urls)


async def poll_sources(settings: Settings, ctx: IngestContext) -> AsyncIterator[Outcome]:
    """Ingest every configured source once (the scheduler's poll job; `digestbot ingest`)."""
    async for outcome in ingest(configured_sources(settings), ctx):
        yield outcome


async def list_posts(ctx: IngestContext, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Posts newest first, as the `digestbot posts --json` contract."""
    async with ctx.sessions() as session:
        posts = await store.list_posts(session=session, limit=limit)
    return [post_json(post, ctx.tz) for post in posts]


def post_json(post: Post, tz: ZoneInfo) -> dict[str, Any]:
    """A post's public fields; times in ISO 8601 with the configured zone's offset."""
    return {
        "id": post.id,
        "slug": post.slug,
        "title": post.title,
        "published_at": post.published_at.astimezone(tz).isoformat(),
        "updated_at": post.updated_at.astimezone(tz).isoformat() if post.updated_at else None,
        "categories": post.categories,
        "tags": post.tags,
        "gated": post.gated,
        "encrypted": post.encrypted,
        "source": post.source,
        "url": post.url,
        "revision": post.revision,
        "digest_stale": post.digest_stale,
        "chars": len(post.body_text),
    }
