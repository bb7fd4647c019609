"""Event reminders through the outbox: Delivery rows of kind `reminder`, ref `EVENT_ID:LEAD`.

The database decides what is due, so downtime loses nothing: each tick queues every reminder
whose moment has come within the grace period and has no rows yet; one that fell due longer
ago is skipped (a reminder after the event is noise). The outbox's unique key sends each once.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, literal
from sqlmodel import col, select

from digests.calendar.events import shown_to, when_text
from digests.entitlement import active_readers
from digests.models import CalendarEvent, Delivery, Subscriber, utcnow
from digests.outbox.enqueue import queue_rows
from digests.outbox.types import Batch, ClaimedRow
from digests.replies import Reply, StoreContext

log = logging.getLogger(__name__)
EVENING = time(20, 0)  # "eve": the evening before, Beijing time


def moment(event: CalendarEvent, lead: str, tz: ZoneInfo) -> datetime | None:
    """When the `lead` reminder of an event is due, or None if that lead does not apply (the
    N-minutes-before reminder is for importance-3 timed events only)."""
    assert event.starts_at is not None
    if lead == "eve":
        day_before = event.starts_at.astimezone(tz).date() - timedelta(days=1)
        return datetime.combine(day_before, EVENING, tzinfo=tz)
    if event.all_day or event.importance < 3:
        return None
    return event.starts_at - timedelta(minutes=int(lead.removesuffix("m")))


async def queue_due(
    ctx: StoreContext, *, leads: list[str], grace: timedelta, now: datetime | None = None
) -> int:
    """Queue the reminders that have fallen due; returns how many rows were queued."""
    now = now or utcnow()
    queued = 0
    async with ctx.sessions() as session, session.begin():
        events = await session.exec(
            select(CalendarEvent).where(
                col(CalendarEvent.status) == "confirmed",
                col(CalendarEvent.starts_at) > now,  # a reminder after the start is noise
                col(CalendarEvent.starts_at) <= now + timedelta(days=2),  # "eve" is < 28 h ahead
            )
        )
        for event in events.all():
            for lead in leads:
                due = moment(event, lead, ctx.tz)
                if due is None or due > now:
                    continue
                if now - due > grace:  # checked first: it needs no query
                    log.debug("reminder %s for %r skipped: %s late", lead, event.title, now - due)
                    continue
                ref = f"{event.id}:{lead}"
                exists = await session.exec(
                    select(Delivery.id).where(Delivery.kind == "reminder", Delivery.ref == ref)
                )
                if exists.first() is not None:
                    continue
                readers = active_readers().where(
                    col(Subscriber.reminders).is_(True),
                    shown_to(
                        now,
                        post_id=literal(event.post_id, Integer),
                        subscriber_id=col(Subscriber.id),
                    ),
                )
                queued += await queue_rows(session, "reminder", ref, readers)
    return queued


async def resolve(batch: Batch, rows: list[ClaimedRow]) -> dict[int, Reply | None]:
    """The outbox kind `reminder`: the reminder text; nothing for a cancelled event or a
    reader who turned reminders off since the row was queued."""
    found: dict[int, Reply | None] = {}
    for row in rows:
        event_id, lead = row.ref.split(":")
        key = f"event:{event_id}"
        if key not in batch.cache:
            batch.cache[key] = await batch.session.get(CalendarEvent, int(event_id))
        event: CalendarEvent | None = batch.cache[key]
        reader = batch.readers.get(row.subscriber_id)
        wanted = reader is not None and reader.reminders
        if not (wanted and event is not None and event.status == "confirmed"):
            found[row.id] = None
            continue
        soon = "明天" if lead == "eve" else f"{lead.removesuffix('m')} 分钟后"
        text = f"⏰ {soon}：{event.title}\n{when_text(event, batch.ctx.tz)}（北京时间）"
        found[row.id] = Reply(text + "\n\n/calendar 查看本周日历 · /remind off 关闭提醒")
    return found
