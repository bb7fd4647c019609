"""Use cases around digests: make (or reuse) a post's digest, retry pending ones, show one.

The cache key is the contract with the LLM bill: an unchanged post, prompt version and model
never cost a second call. A failure leaves a `pending` row with the reason and a retry time,
so nothing is lost and the admin can be told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from digests import store
from digests.errors import EditedDigest, LLMError, NotFound
from digests.index import documents as search_index
from digests.models import DigestRevision, DigestRun, LLMMode, Post, StoredDigest, utcnow
from digests.names import Dictionary
from digests.summarize.llm import LLM, Usage
from digests.summarize.pipeline import Produced, cache_key, identity, summarize
from digests.summarize.policy import PolicyRules
from digests.summarize.schema import Digest

log = logging.getLogger(__name__)


@dataclass
class DigestContext:
    """What digesting needs, opened once by the caller."""

    sessions: async_sessionmaker[AsyncSession]
    llm: LLM | None
    budget_chars: int = 12_000
    retry_after: timedelta = timedelta(minutes=30)
    rules: PolicyRules = field(default_factory=PolicyRules)  # DIGEST_POLICY, part of the key
    disclaimer: str = ""  # DISCLAIMER, stored with each digest; "" = render.DISCLAIMER
    names: Dictionary | None = None  # the securities dictionary (None: the shipped snapshot)


async def find_post(ctx: DigestContext, ref: str) -> Post:
    """SLUG, ID or `latest`; NotFound says which."""
    async with ctx.sessions() as session:
        post = await store.get_post(session=session, ref=ref)
    if post is None:
        raise NotFound("no post is stored yet" if ref == "latest" else f"no post {ref!r}")
    return post


async def digest_post(
    ctx: DigestContext, post: Post, *, refresh: bool = False, replace_edit: bool = False
) -> StoredDigest:
    """The post's digest for the current model and prompt: from the cache when it exists
    (zero LLM calls), else made now. On LLM failure a digest already made stays in force,
    its `error` saying why the refresh failed; with none made, a `pending` row says why.
    An admin's edit of the post's current revision is the digest, whatever the model now;
    `refresh` raises EditedDigest rather than replace it, unless `replace_edit`."""
    model, version = identity(ctx.llm)
    key = cache_key(
        title=post.title,
        text=post.body_text,
        prompt_version=version,
        model=model,
        policy=ctx.rules.key(),
    )
    async with ctx.sessions() as session:
        edited = await store.get_edited_digest(session=session, post=post)
        cached = await store.get_digest_by_key(session=session, cache_key=key)
    if edited is not None and not refresh:
        return await _with_disclaimer(ctx, edited)
    if edited is not None and not replace_edit:
        revision = await _revision_of(ctx, edited)
        raise EditedDigest(edited.current_revision, revision.author if revision else "")
    if cached is not None and cached.status != "pending" and not refresh:
        return await _with_disclaimer(ctx, cached)
    usage, produced, failure, started = Usage(), None, "", utcnow()
    known = await _recall_mode(ctx)
    try:
        produced = await summarize(
            title=post.title,
            text=post.body_text,
            markdown=post.body_markdown,
            llm=ctx.llm,
            budget=ctx.budget_chars,
            usage=usage,
            rules=ctx.rules,
            names=ctx.names,
        )
    except LLMError as exc:
        log.warning("summary of %s failed: %s", post.slug, exc)
        failure = str(exc)
    await _remember_mode(ctx, known)
    run = DigestRun(
        post_id=_id(post),
        outcome=produced.status if produced else "failed",
        model=model,
        output_mode=(produced.output_mode or "") if produced else "",
        llm_calls=usage.calls,
        failed_calls=usage.failed,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        error=failure,
        started_at=started,  # finished_at: now
    )
    return await _save(ctx, post, key, run, produced, replace_edit=replace_edit)


async def _revision_of(ctx: DigestContext, row: StoredDigest) -> DigestRevision | None:
    async with ctx.sessions() as session:
        return await store.get_digest_revision(
            session=session, digest_id=row.id or 0, number=row.current_revision
        )


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
    run: DigestRun,
    produced: Produced | None,
    *,
    replace_edit: bool = False,
) -> StoredDigest:
    """Record the run, and the digest it made as the row's next revision; a failed run leaves
    a made digest as it was, and so does one that finds an edit it was not told to replace
    (an admin saved while the model ran)."""
    async with ctx.sessions() as session, session.begin():
        if replace_edit:  # the edits of this post revision give way (kept in their revisions)
            await session.exec(
                update(StoredDigest)
                .where(col(StoredDigest.post_id) == post.id)
                .where(col(StoredDigest.revision) == post.revision)
                .values(edited=False)
            )
        row = await store.get_digest_by_key(session=session, cache_key=key)
        if row is None:
            row = StoredDigest(
                post_id=_id(post),
                revision=post.revision,
                cache_key=key,
                status="pending",
                mode="llm",
                model=run.model,
                prompt_version=identity(ctx.llm)[1],
                policy=ctx.rules.policy.value,
            )
        row.attempts += 1
        row.disclaimer = ctx.disclaimer
        row.updated_at = run.finished_at
        row.error = run.error
        if produced is not None and row.edited and not replace_edit:
            produced = None
            row.error = "an admin's edit stands; regenerate to replace it"
        if produced is None:
            if row.status == "pending":
                row.next_attempt_at = utcnow() + ctx.retry_after
        else:
            # `meta` describes the run that made this digest, never a sum over refreshes
            row.status, row.mode, row.output_mode = produced.status, produced.mode, run.output_mode
            row.next_attempt_at = None
            row.data = produced.digest.model_dump()
            row.dropped = produced.dropped
            row.llm_calls, row.prompt_tokens = run.llm_calls, run.prompt_tokens
            row.completion_tokens = run.completion_tokens
            await session.exec(  # the post's current revision now has its digest
                update(Post)
                .where(col(Post.id) == post.id, col(Post.revision) == row.revision)
                .values(digest_stale=False)
            )
        session.add(row)
        if produced is not None:
            await session.flush()  # a new row's id, for its revision
            session.add(store.next_revision(row))
        if produced is not None and produced.status == "ready":  # readers may search it now
            await search_index.put(
                await session.connection(), [search_index.digest_doc(post, row.data)]
            )
        if run.model != "extractive":  # the offline digest costs nothing worth a row
            session.add(run)
    return row


async def _with_disclaimer(ctx: DigestContext, row: StoredDigest) -> StoredDigest:
    """A cached digest carrying the DISCLAIMER in force: the line is no part of the cache key
    (changing it costs no LLM call), so a changed setting is written to the row here."""
    if row.disclaimer == ctx.disclaimer:
        return row
    async with ctx.sessions() as session, session.begin():
        await session.exec(
            update(StoredDigest)
            .where(col(StoredDigest.id) == row.id)
            .values(disclaimer=ctx.disclaimer)
        )
    row.disclaimer = ctx.disclaimer
    return row


@dataclass
class Costs:
    """What the model cost, over every run (failed ones included); `posts` the dearest."""

    calls: int
    failed_calls: int
    prompt_tokens: int
    completion_tokens: int
    pending: int
    posts: list[tuple[str, int, int]]  # (slug, calls, tokens), most tokens first


async def llm_costs(ctx: DigestContext, *, top: int = 5) -> Costs:
    """Cumulative LLM use, in all and for the `top` posts that cost the most tokens."""
    run = DigestRun
    tokens = func.sum(run.prompt_tokens + run.completion_tokens)
    async with ctx.sessions() as session:
        calls, failed, prompt, completion = (
            await session.exec(
                select(
                    func.coalesce(func.sum(run.llm_calls), 0),
                    func.coalesce(func.sum(run.failed_calls), 0),
                    func.coalesce(func.sum(run.prompt_tokens), 0),
                    func.coalesce(func.sum(run.completion_tokens), 0),
                )
            )
        ).one()
        pending = (
            await session.exec(
                select(func.count())
                .select_from(StoredDigest)
                .where(StoredDigest.status == "pending")
            )
        ).one()
        dearest = await session.exec(
            select(Post.slug, func.sum(run.llm_calls), tokens)
            .join(Post, col(Post.id) == col(run.post_id))
            .group_by(Post.slug)
            .order_by(tokens.desc(), Post.slug)
            .limit(top)
        )
        posts = [(slug, int(c), int(t)) for slug, c, t in dearest]
    return Costs(calls, failed, prompt, completion, pending, posts)


async def _recall_mode(ctx: DigestContext) -> str | None:
    """The output mode stored for this server and model, given to the LLM when this process
    has not learned one yet: a restart does not probe json_schema again."""
    if ctx.llm is None:
        return None
    async with ctx.sessions() as session:
        row = await session.get(LLMMode, (str(ctx.llm.client.base_url), ctx.llm.model))
    if row is not None and ctx.llm.mode is None:
        ctx.llm.mode = row.mode
    return row.mode if row else None


async def _remember_mode(ctx: DigestContext, known: str | None) -> None:
    """Store the mode the server was seen to refuse every better mode for, when it differs
    from the stored one."""
    mode = ctx.llm.settled_mode if ctx.llm else None
    if ctx.llm is None or mode is None or mode == known:
        return
    row = LLMMode(base_url=str(ctx.llm.client.base_url), model=ctx.llm.model, mode=mode)
    try:
        async with ctx.sessions() as session, session.begin():
            await session.merge(row)
    except IntegrityError:  # another process stored it at the same moment: either will do
        log.info("output mode of %s stored by another process", ctx.llm.model)


def _id(post: Post) -> int:
    assert post.id is not None
    return post.id


def digest_json(row: StoredDigest, post: Post, tz: ZoneInfo) -> dict[str, Any]:
    """The public contract: the digest's keys plus `meta`."""
    return {
        **Digest.model_validate(row.data).model_dump(),
        "meta": {
            "status": row.status,
            "mode": row.mode,
            "model": row.model,
            "prompt_version": row.prompt_version,
            "policy": row.policy,
            "output_mode": row.output_mode,
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
            "revision": row.current_revision,  # of the digest's text (digests/review/)
            "edited": row.edited,
        },
    }
