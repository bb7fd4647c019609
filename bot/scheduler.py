"""APScheduler 3.x jobs: poll the sources, retry pending summaries, send what is queued, queue
and send access-expiry notices. Each job is a plain async function of the services, so tests
call them directly; the scheduler only decides when. (Editions and event reminders join in a
later release.)"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.container import Services
from digests import admin, digesting, service
from digests.dispatch import Channel, send_queued
from digests.expiry import queue_expiry_notices
from digests.members import Reply
from digests.models import Post

log = logging.getLogger(__name__)
Notify = Callable[[Reply], Awaitable[None]]  # tell every admin
DELIVER_EVERY = 5  # seconds between delivery ticks (an idle tick is one indexed query)


async def poll_job(services: Services, notify: Notify) -> None:
    """Ingest POSTS_DIR and FEED_URLS; each new or changed post reaches the admins as a
    preview with 发布 / 重新生成 / 丢弃."""
    actx = services.admin_context()
    async for outcome in service.poll_sources(services.settings, services.ingest_context()):
        if outcome.status in ("new", "updated"):
            await notify(await admin.preview(actx, outcome.slug))
        elif outcome.failed:
            log.warning("poll: %s", outcome.line())


async def retry_job(services: Services, notify: Notify) -> None:
    """Summaries left pending by an LLM failure are tried again; the admins hear of each one
    that now has a digest."""
    actx = services.admin_context()
    for row in await digesting.retry_pending(services.digest_context()):
        if row.status != "pending":
            async with actx.members.sessions() as session:
                post = await session.get(Post, row.post_id)
            if post is not None:
                await notify(await admin.preview(actx, post.slug))


async def deliver_job(services: Services, notify: Notify, channels: dict[str, Channel]) -> None:
    """Send whatever is due (after a restart, a backoff, or rows a publish's send left); the
    admins hear of messages that failed for good."""
    if not channels:
        return
    counts = await send_queued(services.member_context(), channels)
    if counts.sent or counts.failed or counts.retried:
        log.info(
            "delivery tick: %s sent, %s retrying, %s failed",
            counts.sent,
            counts.retried,
            counts.failed,
        )
    if counts.failed:
        await notify(Reply(f"⚠️ {counts.failed} 条消息多次发送失败，已放弃；详见 /stats 与日志。"))


async def expiry_job(services: Services, channels: dict[str, Channel]) -> None:
    """Queue the access-expiry notices that fell due and send what is queued."""
    queued = await queue_expiry_notices(services.member_context())
    counts = await send_queued(services.member_context(), channels)
    log.info("expiry notices: %s queued, %s sent", queued, counts.sent)


def build_scheduler(
    services: Services, notify: Notify, channels: dict[str, Channel]
) -> AsyncIOScheduler:
    """The jobs, in TIMEZONE; a job never overlaps itself and missed runs collapse into one."""
    settings = services.settings
    scheduler = AsyncIOScheduler(
        timezone=settings.timezone, job_defaults={"coalesce": True, "max_instances": 1}
    )
    if settings.posts_dir or settings.feed_urls:
        scheduler.add_job(
            poll_job,
            "interval",
            minutes=settings.poll_interval_minutes,
            args=(services, notify),
            id="poll",
        )
    scheduler.add_job(retry_job, "interval", minutes=5, args=(services, notify), id="retry")
    # every few seconds: a publish from a process that does not lead starts within DELIVER_EVERY
    scheduler.add_job(
        deliver_job,
        "interval",
        seconds=DELIVER_EVERY,
        args=(services, notify, channels),
        id="deliver",
    )
    scheduler.add_job(expiry_job, "cron", hour=9, minute=0, args=(services, channels), id="expiry")
    return scheduler
