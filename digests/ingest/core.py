"""One ingest() for every source: files, folders, feed URLs and page URLs.

Each post is stored in its own transaction, so a bad item never stops the batch and never
leaves half a post. An error nobody foresaw (a bug) in one file, entry or post becomes that
item's `failed` line and a logged trace; one in a whole target (a folder, a feed) fails that
target and the batch goes on with the next. Unchanged posts are recognised by content hash in
one query per batch and cost no write at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from digests import store
from digests.errors import DigestbotError
from digests.index import documents as search_index
from digests.ingest import bulk, feed, page
from digests.ingest.draft import Draft, Outcome, Status, unexpected
from digests.ingest.hexo import MARKDOWN_SUFFIXES, read_post_file
from digests.models import Post, PostRevision, table_of

log = logging.getLogger(__name__)
REVISIONS = table_of(PostRevision)
FEED_SUFFIXES = (".xml", ".rss", ".atom")


@dataclass
class IngestContext:
    """What ingestion needs from the outside, opened once by the caller."""

    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    tz: ZoneInfo
    passwords: Sequence[str] = ()


async def ingest(targets: Sequence[str], ctx: IngestContext) -> AsyncIterator[Outcome]:
    """Ingest files, folders (their *.md, recursively), saved feed files (*.xml), feed URLs and
    page URLs, in order."""
    for target in targets:
        try:
            async for outcome in _ingest_target(target, ctx):
                yield outcome
        except Exception as exc:  # a bug (or the store gone) costs this target, not the batch
            log.exception("ingest of %s stopped", target)
            yield Outcome("failed", target, unexpected(exc))


async def _ingest_target(target: str, ctx: IngestContext) -> AsyncIterator[Outcome]:
    if target.startswith(("http://", "https://")):
        async for outcome in _ingest_url(target, ctx):
            yield outcome
        return
    if target.lower().endswith(FEED_SUFFIXES):
        async for outcome in _ingest_feed_file(Path(target), ctx):
            yield outcome
        return
    try:
        files = await asyncio.to_thread(_post_files, Path(target))
    except OSError as exc:  # an unreadable folder
        yield Outcome("failed", target, _reason(exc))
        return
    if files is None:
        yield Outcome("failed", target, "no such file or folder")
        return
    async for outcome in _ingest_files(files, ctx):
        yield outcome


def _post_files(path: Path) -> list[Path] | None:
    """A folder's markdown files (recursively, in name order), a file itself, or None."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix.lower() in MARKDOWN_SUFFIXES)
    return [path] if path.is_file() else None


async def _ingest_files(files: list[Path], ctx: IngestContext) -> AsyncIterator[Outcome]:
    drafts: list[Draft] = []
    for path in files:
        try:
            drafts.append(read_post_file(path, tz=ctx.tz))
        except (DigestbotError, OSError) as exc:
            yield Outcome("failed", str(path), _reason(exc))
        except Exception as exc:  # a bug must cost this file only
            log.exception("could not read post file %s", path)
            yield Outcome("failed", str(path), unexpected(exc))
    async for outcome in save_drafts(drafts, ctx):
        yield outcome


async def _ingest_feed_file(path: Path, ctx: IngestContext) -> AsyncIterator[Outcome]:
    try:
        content = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        yield Outcome("failed", str(path), _reason(exc))
        return
    drafts, failures = _parse_feed(content, str(path), ctx)
    for outcome in failures:
        yield outcome
    async for outcome in save_drafts(drafts, ctx):
        yield outcome


async def _ingest_url(url: str, ctx: IngestContext) -> AsyncIterator[Outcome]:
    async with ctx.sessions() as session:
        known = await store.get_or_create_source(session=session, url=url)
        validators = feed.conditional_headers(known)
    try:
        response = await feed.fetch(ctx.http, url, headers=validators)
    except DigestbotError as exc:
        yield Outcome("failed", url, str(exc))
        return
    if response.status_code == 304:
        yield Outcome("unchanged", url, "feed not modified since the last poll (304)")
        return
    if not feed.looks_like_feed(response):
        try:
            draft = page.parse_page(response.text, url=url, passwords=ctx.passwords, tz=ctx.tz)
        except DigestbotError as exc:
            yield Outcome("failed", url, str(exc))
            return
        except Exception as exc:  # trafilatura or lxml on an odd page: this URL only
            log.exception("could not read page %s", url)
            yield Outcome("failed", url, unexpected(exc))
            return
        async for outcome in save_drafts([draft], ctx):
            yield outcome
        return
    drafts, failures = _parse_feed(response.content, url, ctx)
    for outcome in failures:
        yield outcome
    all_stored = not failures
    async for outcome in save_drafts(drafts, ctx):
        all_stored = all_stored and not outcome.failed
        yield outcome
    # Keep the validators only when every entry was taken: otherwise the next poll would get
    # a 304 and never retry the entry a newly added password could open.
    async with ctx.sessions() as session, session.begin():
        source = await store.get_or_create_source(session=session, url=url)
        feed.remember(source, response if all_stored else None)


def _parse_feed(content: bytes, url: str, ctx: IngestContext) -> tuple[list[Draft], list[Outcome]]:
    try:
        return feed.parse_feed(content, url=url, passwords=ctx.passwords)
    except Exception as exc:  # feedparser's own bug on odd input: this feed fails, not the batch
        log.exception("could not parse feed %s", url)
        return [], [Outcome("failed", url, unexpected(exc))]


async def save_drafts(drafts: list[Draft], ctx: IngestContext) -> AsyncIterator[Outcome]:
    """Store drafts; outcomes come back in input order.

    Unchanged posts are recognised from one lookup and cost no write. Posts not yet known are
    inserted together, whole posts per transaction (a post and its first revision), in chunks
    (digests/ingest/bulk.py), each chunk prepared while the one before is written; if a
    chunk's transaction fails, its posts are retried one transaction each, so one bad post
    never takes the others down and none is half-written.
    """
    async with ctx.sessions() as session:
        known = await store.get_post_fingerprints(session=session, slugs=(d.slug for d in drafts))
    seen: dict[str, str] = {}
    writing: tuple[list[Outcome | Draft], asyncio.Task[bool] | None] | None = None
    for start in range(0, len(drafts), bulk.CHUNK):
        outcomes: list[Outcome | Draft] = []
        for draft in drafts[start : start + bulk.CHUNK]:
            where = draft.source_ref or draft.slug
            if draft.slug in seen:
                message = f"slug {draft.slug!r} is already used by {seen[draft.slug]}"
                outcomes.append(Outcome("failed", where, message))
                continue
            seen[draft.slug] = where
            if known.get(draft.slug) == (draft.content_hash, draft.source):
                outcomes.append(Outcome("unchanged", draft.slug, draft.title))
            elif draft.slug in known:
                outcomes.append(await save_draft(draft, ctx.sessions))
            else:
                outcomes.append(draft)  # new: inserted with the chunk below
        fresh = await bulk.prepare([item for item in outcomes if isinstance(item, Draft)])
        if writing is not None:
            async for outcome in _written(*writing, ctx):
                yield outcome
        insert = bulk.insert_together(fresh, ctx.sessions) if fresh else None
        writing = (outcomes, asyncio.ensure_future(insert) if insert else None)
        await asyncio.sleep(0)  # a long batch must not starve the bot's other work
    if writing is not None:
        async for outcome in _written(*writing, ctx):
            yield outcome


async def _written(
    outcomes: list[Outcome | Draft], inserting: asyncio.Task[bool] | None, ctx: IngestContext
) -> AsyncIterator[Outcome]:
    """A chunk's outcomes once its insert is done (its new posts stored singly if it failed)."""
    if inserting is not None and not await inserting:
        for n, item in enumerate(outcomes):
            if isinstance(item, Draft):
                outcomes[n] = await save_draft(item, ctx.sessions)
    for item in outcomes:
        yield item if isinstance(item, Outcome) else Outcome("new", item.slug, item.title)


async def save_draft(draft: Draft, sessions: async_sessionmaker[AsyncSession]) -> Outcome:
    """Create, revise or leave one post, in one transaction; a refused write, or any other
    error in this post, is a failed Outcome (the trace of an unforeseen one is logged)."""
    for attempt in (1, 2):
        try:
            async with sessions() as session, session.begin():
                return await _write(session, draft)
        except IntegrityError as exc:
            if attempt == 1 and "slug" in str(exc.orig):  # created meanwhile by another process
                log.info("slug %s was created concurrently; retrying as an update", draft.slug)
                continue
            error: DBAPIError = exc
        except DBAPIError as exc:
            error = exc
        except Exception as exc:  # a value the driver cannot bind, or a bug: this post only
            log.exception("could not store post %s", draft.slug)
            return Outcome("failed", draft.slug, unexpected(exc))
        log.warning("database refused post %s: %s", draft.slug, error)
        break
    return Outcome("failed", draft.slug, f"the database refused it: {type(error.orig).__name__}")


async def _write(session: AsyncSession, draft: Draft) -> Outcome:
    post = await store.get_post_by_slug(session=session, slug=draft.slug)
    if post is not None and post.source != draft.source:
        # Same slug from another source (the folder and the feed of one blog): the first
        # source owns the post, so the two renderings never flip-flop as revisions.
        return Outcome("unchanged", draft.slug, f"{post.title} (kept from {post.source})")
    if post is not None and post.content_hash == draft.content_hash:
        return Outcome("unchanged", draft.slug, post.title)
    if post is None:
        post = Post(slug=draft.slug, source=draft.source, **bulk.post_fields(draft))
        status: Status = "new"
    else:
        post.sqlmodel_update({**bulk.post_fields(draft), "revision": post.revision + 1})
        status = "updated"
    session.add(post)
    await session.flush()
    assert post.id is not None
    conn = await session.connection()
    await conn.execute(insert(REVISIONS), [bulk.revision_row(post.id, post.revision, draft)])
    await search_index.follow_post(conn, post.id)  # the search index, in the same transaction
    return Outcome(status, draft.slug, draft.title)


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"cannot read the file: {exc.strerror or exc}"
    return str(exc)
