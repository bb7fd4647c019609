"""APScheduler 3.x jobs: poll the sources, retry pending summaries, send what is queued, queue
access-expiry notices, event reminders and editions, and keep the exchange's closures in the
calendar. Each job is a plain async function of the services, so tests call them directly;
the scheduler only decides when, and only in the leader (digests/outbox/leader.py). The database
decides what is due, so a restart loses nothing."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import requests
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from wechatpy.exceptions import WeChatClientException

from bot.container import Services
from bot.wechat.mass import MassSender
from bot.wechat.sender import WeChatChannel
from digests import posts
from digests.calendar import closures, events, reminders
from digests.days import trading
from digests.models import Post, utcnow
from digests.outbox.editions import make_edition
from digests.outbox.running import SendLoop
from digests.outbox.types import Channel
from digests.publishing import drafts
from digests.readers.expiry import queue_expiry_notices
from digests.readership import audit
from digests.readership.report import readership_reply
from digests.replies import Reply
from digests.summarize import digesting

log = logging.getLogger(__name__)
Notify = Callable[[Reply], Awaitable[None]]  # tell every admin
EDITION_CATCH_UP = timedelta(hours=12)  # a missed edition is still sent this late, once
DELIVER_EVERY = 5  # seconds between delivery ticks (an idle tick is one indexed query)


async def poll_job(services: Services, notify: Notify) -> None:
    """Ingest POSTS_DIR and FEED_URLS; each new or changed post reaches the admins as a
    preview with 发布 / 重新生成 / 丢弃."""
    actx = services.admin_context()
    async for outcome in posts.poll_sources(services.settings, services.ingest_context()):
        if outcome.status in ("new", "updated"):
            await notify(await drafts.preview(actx, outcome.slug))
        elif outcome.failed:
            log.warning("poll: %s", outcome.line())


async def retry_job(services: Services, notify: Notify) -> None:
    """Summaries left pending by an LLM failure are tried again; the admins hear of each one
    that now has a digest."""
    actx = services.admin_context()
    for row in await digesting.retry_pending(services.digest_context()):
        if row.status != "pending":
            async with actx.store.sessions() as session:
                post = await session.get(Post, row.post_id)
            if post is not None:
                await notify(await drafts.preview(actx, post.slug))


async def deliver_job(notify: Notify, sending: SendLoop) -> None:
    """Send whatever is due (after a restart, a backoff, or rows a publish's send left), in the
    process's one send run; the admins hear of messages that failed for good. A tick during
    a run (a broadcast takes minutes) only asks it to look again: the run's caller reports."""
    if sending.poke():
        return
    counts = await sending.send()
    if counts.sent or counts.failed or counts.retried:
        log.info(
            "delivery tick: %s sent, %s retrying, %s failed",
            counts.sent,
            counts.retried,
            counts.failed,
        )
    if counts.failed:
        await notify(Reply(f"⚠️ {counts.failed} 条消息多次发送失败，已放弃；详见 /stats 与日志。"))


async def expiry_job(services: Services, sending: SendLoop) -> None:
    """Queue the access-expiry notices that fell due and send what is queued."""
    queued = await queue_expiry_notices(services.store_context())
    counts = await sending.send()
    log.info("expiry notices: %s queued, %s sent", queued, counts.sent)


async def mass_job(sender: MassSender, notify: Notify) -> None:
    """WeChat's daily mass-send (WECHAT_DELIVERY=mass_send_tag); the admins hear how it went."""
    report = await sender.run()
    if report.rows or report.problem:
        log.info("%s", report.line())
        await notify(Reply(report.line()))


async def tag_prune_job(sender: MassSender) -> None:
    """Just after access periods end: lapsed readers out of the mass-send tag."""
    try:
        log.info("mass-send tag: %s lapsed readers removed", await sender.prune())
    except (WeChatClientException, requests.RequestException) as exc:
        log.warning("mass-send tag not pruned: %s", exc)  # the next mass-send re-syncs it


async def reminder_job(services: Services, now: datetime | None = None) -> int:
    """Queue the event reminders that fell due (the delivery tick sends them)."""
    settings = services.settings
    grace = timedelta(minutes=settings.reminder_grace_minutes)
    return await reminders.queue_due(
        services.store_context(), leads=settings.reminder_lead_times, grace=grace, now=now
    )


async def edition_job(services: Services, now: datetime | None = None) -> int:
    """Make the edition of the latest DIGEST_SCHEDULE time at or before now, if not made yet
    (on a trading day, with EDITION_TRADING_DAYS_ONLY); also the catch-up after downtime."""
    settings = services.settings
    due = last_fire_time(settings.digest_schedule, settings.tz, now or utcnow())
    if due is None or (now or utcnow()) - due > EDITION_CATCH_UP:
        return 0
    if settings.edition_trading_days_only and not await _trading_day(services, due.date()):
        log.info("edition of %s skipped: the exchange is closed", due.date())
        return 0
    edition, queued = await make_edition(services.store_context(), due)
    if edition is not None:
        log.info("edition %s: %s digests for %s readers", due, len(edition.publication_ids), queued)
    return queued


async def _trading_day(services: Services, day: date) -> bool:
    market = await closures.load(services.store_context())
    try:
        return market.is_session(day)
    except trading.CalendarDataMissing as exc:  # better an edition on a holiday than none
        log.warning("%s; sending the edition anyway", exc)
        return True


def cron_trigger(cron: str, tz: ZoneInfo) -> CronTrigger:
    """A crontab line as crontab means it. APScheduler 3's from_crontab() reads day-of-week
    numbers with 0 = Monday (crontab: 0 and 7 = Sunday), so `1-5` would be Tuesday to
    Saturday: the numbers are expanded and given as day names."""
    minute, hour, day, month, weekdays = cron.split()
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=_weekdays(weekdays), timezone=tz
    )


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekdays(field: str) -> str:
    """A crontab day-of-week field (`*`, `1-5`, `0-4`, `*/2`, `1,3,5`, `7`) → `mon,tue,…`."""
    if field == "*" or any(c.isalpha() for c in field):
        return field  # names mean the same to both
    days: set[int] = set()
    for item in field.split(","):
        span, _, step = item.partition("/")
        first, _, last = span.partition("-")
        low, high = (0, 6) if span == "*" else (int(first), int(last or first))
        days.update(d % 7 for d in range(low, high + 1, int(step or 1)))
    return ",".join(_DAYS[d] for d in sorted(days))


def last_fire_time(cron: str, tz: ZoneInfo, now: datetime) -> datetime | None:
    """The cron's most recent time at or before `now` (within the past week)."""
    trigger = cron_trigger(cron, tz)
    fire, last = trigger.get_next_fire_time(None, now - timedelta(days=7)), None
    while fire is not None and fire <= now:
        last, fire = fire, trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


async def closures_job(services: Services, notify: Notify, today: date | None = None) -> int:
    """The exchange's closures of the next 60 days as calendar events; the admins hear once
    when a year in those 60 days has no announced holiday arrangement."""
    ctx = services.store_context()
    today = today or utcnow().astimezone(services.settings.tz).date()
    warning = await closures.coverage_notice(ctx, today)
    if warning is not None:
        log.warning("%s", warning)
        await notify(Reply(warning))
    return await events.sync_market_closures(ctx, today)


def build_scheduler(
    services: Services,
    notify: Notify,
    channels: dict[str, Channel],
    sending: SendLoop | None = None,
) -> AsyncIOScheduler:
    """The jobs, in TIMEZONE; a job never overlaps itself and missed runs collapse into one.
    Jobs that send go through `sending`, the process's one send run (one for `channels` if
    not given)."""
    settings = services.settings
    sending = sending or SendLoop(services.store_context(), services.kinds, channels)
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
        args=(notify, sending),
        id="deliver",
        max_instances=2,  # the tick during a long run pokes it and ends, instead of skipping
    )
    scheduler.add_job(expiry_job, "cron", hour=9, minute=0, args=(services, sending), id="expiry")
    scheduler.add_job(reminder_job, "interval", minutes=1, args=(services,), id="reminders")
    scheduler.add_job(
        edition_job,
        cron_trigger(settings.digest_schedule, settings.tz),
        args=(services,),
        id="edition",
    )
    scheduler.add_job(
        closures_job, "cron", hour=6, minute=0, args=(services, notify), id="closures"
    )
    wechat = channels.get("wechat")
    if isinstance(wechat, WeChatChannel) and settings.wechat_delivery == "mass_send_tag":
        sender = MassSender(wechat, services.kinds)
        mass_at = cron_trigger(settings.wechat_mass_schedule, settings.tz)
        scheduler.add_job(mass_job, mass_at, args=(sender, notify), id="wechat-mass")
        scheduler.add_job(tag_prune_job, "cron", hour=0, minute=5, args=(sender,), id="wechat-tag")
    add_readership_jobs(scheduler, services, notify)
    return scheduler


async def stats_report_job(services: Services, notify: Notify) -> None:
    """STATS_REPORT_SCHEDULE: the readership figures and 12-week chart to the admins."""
    heading = "📈 每周读者报告"
    await notify(await readership_reply(services.store_context(), heading=heading))


async def audit_prune_job(services: Services) -> None:
    """Daily: audit rows (deliveries, reader actions) older than AUDIT_RETENTION_DAYS go."""
    days = services.settings.audit_retention_days
    pruned = await audit.prune(services.store_context(), days=days)
    if any(pruned.values()):
        log.info("audit record pruned (older than %s days): %s", days, pruned)


def add_readership_jobs(scheduler: AsyncIOScheduler, services: Services, notify: Notify) -> None:
    """The audit's daily pruning, and the weekly report only when STATS_REPORT_SCHEDULE is set."""
    settings = services.settings
    scheduler.add_job(audit_prune_job, "cron", hour=3, minute=30, args=(services,), id="audit")
    if settings.stats_report_schedule:
        scheduler.add_job(
            stats_report_job,
            cron_trigger(settings.stats_report_schedule, settings.tz),
            args=(services, notify),
            id="stats-report",
        )


async def catch_up(services: Services, notify: Notify) -> None:
    """What a new leader does first: the edition missed while no process led, and closures."""
    await closures_job(services, notify)
    await edition_job(services)
