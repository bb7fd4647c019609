"""Use cases around digests: make (or reuse) a post's digest, retry pending ones, show one.

The cache key is the contract with the LLM bill: an unchanged post, prompt version and model
never cost a second call. A failure leaves a `pending` row with the reason and a retry time,
so nothing is lost and the admin can be told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from digests import store
from digests.errors import LLMError, NotFound
from digests.models import Post, StoredDigest, utcnow
from digests.summarize.llm import LLM
from digests.summarize.pipeline import Produced, cache_key, identity, summarize
from digests.summarize.schema import Digest

log = logging.getLogger(__name__)


@dataclass
class DigestContext:
    """What digesting needs, opened once by the caller."""

    sessions: async_sessionmaker[AsyncSession]
    llm: LLM | None
    budget_chars: int = 12_000
    retry_after: timedelta = timedelta(minutes=30)


async def find_post(ctx: DigestContext, ref: str) -> Post:
    """SLUG, ID or `latest`; NotFound says which."""
    async with ctx.sessions() as session:
        post = await store.get_post(session=session, ref=ref)
    if post is None:
        raise NotFound("no post is stored yet" if ref == "latest" else f"no post {ref!r}")
    return post


async def digest_post(ctx: DigestContext, post: Post, *, refresh: bool = False) -> StoredDigest:
    """The post's digest for the current model and prompt: from the cache when it exists
    (zero LLM calls), else made now; on LLM failure a `pending` row with the reason."""
    model, version = identity(ctx.llm)
    key = cache_key(title=post.title, text=post.body_text, prompt_version=version, model=model)
    async with ctx.sessions() as session:
        cached = await store.get_digest_by_key(session=session, cache_key=key)
    if cached is not None and cached.status != "pending" and not refresh:
        return cached
    try:
        produced = await summarize(
            title=post.title,
            text=post.body_text,
            markdown=post.body_markdown,
            llm=ctx.llm,
            budget=ctx.budget_chars,
        )
    except LLMError as exc:
        log.warning("summary of %s is pending: %s", post.slug, exc)
        return await _save(ctx, post, key, model, version, failure=str(exc))
    return await _save(ctx, post, key, model, version, produced=produced)


async def retry_pending(ctx: DigestContext) -> list[StoredDigest]:
    """Try again every pending digest whose retry time has come (the scheduler's job)."""
    async with ctx.sessions() as session:
        due = await store.list_due_pending(session=session, now=utcnow())
        posts = [await session.get(Post, row.post_id) for row in due]
    return [await digest_post(ctx, post) for post in posts if post is not None]


async def _save(
    ctx: DigestContext,
    post: Post,
    key: str,
    model: str,
    version: str,
    *,
    produced: Produced | None = None,
    failure: str = "",
) -> StoredDigest:
    assert post.id is not None
    async with ctx.sessions() as session, session.begin():
        row = await store.get_digest_by_key(session=session, cache_key=key)
        if row is None:
            row = StoredDigest(
                post_id=post.id,
                revision=post.revision,
                cache_key=key,
                status="pending",
                mode="llm",
                model=model,
                prompt_version=version,
            )
        row.attempts += 1
        row.updated_at = utcnow()
        if produced is None:
            row.status, row.error = "pending", failure
            row.next_attempt_at = utcnow() + ctx.retry_after
        else:
            row.status, row.mode, row.error, row.next_attempt_at = (
                produced.status,
                produced.mode,
                "",
                None,
            )
            row.data = produced.digest.model_dump()
            row.dropped = produced.dropped
            row.llm_calls += produced.usage.calls
            row.prompt_tokens += produced.usage.prompt_tokens
            row.completion_tokens += produced.usage.completion_tokens
            await session.exec(  # the post's current revision now has its digest
                update(Post)
                .where(col(Post.id) == post.id, col(Post.revision) == row.revision)
                .values(digest_stale=False)
            )
        session.add(row)
    return row


def digest_json(row: StoredDigest, post: Post, tz: ZoneInfo) -> dict[str, Any]:
    """The public contract: the digest's keys plus `meta`."""
    return {
        **Digest.model_validate(row.data).model_dump(),
        "meta": {
            "status": row.status,
            "mode": row.mode,
            "model": row.model,
            "prompt_version": row.prompt_version,
            "llm_calls": row.llm_calls,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "dropped": row.dropped,
            "post": {
                "id": post.id,
                "slug": post.slug,
                "title": post.title,
                "published_at": post.published_at.astimezone(tz).isoformat(),
                "gated": post.gated,
                "revision": row.revision,
            },
            "made_at": row.updated_at.astimezone(tz).isoformat(),
        },
    }
