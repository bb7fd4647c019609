"""Event use cases: proposals from a published digest, the admin's add / confirm / cancel, the
exchange's closures as events, the subscriber's week ahead, and the JSON the CLI prints."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, literal
from sqlmodel import and_, col, or_, select

from digests.calendar import closures
from digests.days.dates import resolve
from digests.entitlement import grant_holders
from digests.models import CalendarEvent, Post, Subscriber, utcnow
from digests.replies import StoreContext, command
from digests.summarize.schema import Digest

log = logging.getLogger(__name__)
KINDS = ("macro", "earnings", "holiday", "policy", "other")


@dataclass
class Proposals:
    """What publishing a digest did to the calendar."""

    proposed: list[CalendarEvent]
    past: int  # already over at publish time: no event, no reminder


async def propose_from_digest(ctx: StoreContext, post: Post, digest: Digest) -> Proposals:
    """One proposed event per digest event not yet past, dated in code (digests/calendar/
    dates.py); the same event from a re-published post keeps its row (its UID is stable)."""
    proposed: dict[str, CalendarEvent] = {}  # by UID: a digest may list one event twice
    past = 0
    market = await closures.load(ctx)
    async with ctx.sessions() as session, session.begin():
        for item in digest.events:
            when = resolve(item.title, item.when, post.published_at, market)
            if when.past:
                past += 1
                continue
            fingerprint = hashlib.sha1(f"{item.title}|{item.when}".encode()).hexdigest()[:12]
            uid = f"post-{post.id}-{fingerprint}@digestbot"
            found = await session.exec(select(CalendarEvent).where(CalendarEvent.uid == uid))
            event = found.first()
            if event is None:
                event = CalendarEvent(
                    uid=uid, title=item.title, when_text=item.when, post_id=post.id
                )
            elif event.status != "proposed":
                continue  # the admin decided already
            event.starts_at, event.all_day = when.starts_at, when.all_day
            event.day, event.end_day = when.day, when.end_day
            event.region, event.kind, event.importance = when.region, when.kind, when.importance
            event.updated_at = utcnow()
            session.add(event)
            proposed[uid] = event
    return Proposals(list(proposed.values()), past)


async def decide(ctx: StoreContext, event_id: int, *, confirm: bool) -> CalendarEvent | None:
    """确认 (confirmed: reminders go out) or 忽略 / cancel (cancelled: calendars drop it)."""
    async with ctx.sessions() as session, session.begin():
        event = await session.get(CalendarEvent, event_id)
        if event is None:
            return None
        if confirm and event.starts_at is None:
            raise ValueError(
                f"这个事件没有确定的日期；请用 {command('event_add')} 添加带日期的版本。"
            )
        event.status = "confirmed" if confirm else "cancelled"
        event.sequence += 1  # calendar apps apply a change only with a higher SEQUENCE
        event.updated_at = utcnow()
        session.add(event)
    return event


async def add(
    ctx: StoreContext, day: date, at: time | None, title: str, importance: int = 2
) -> CalendarEvent:
    """/event_add: a confirmed event the admin typed (all-day when no time is given)."""
    if not 1 <= importance <= 3:
        raise ValueError("重要性是 1、2 或 3。")
    if not title.strip():
        raise ValueError("请写上事件标题。")
    starts = datetime.combine(day, at or time.min, tzinfo=ctx.tz)
    event = CalendarEvent(
        uid=f"admin-{secrets.token_hex(8)}@digestbot",
        title=title.strip(),
        starts_at=starts,
        all_day=at is None,
        day=day,
        importance=importance,
        status="confirmed",
        kind="other",
    )
    async with ctx.sessions() as session, session.begin():
        session.add(event)
    return event


async def sync_market_closures(ctx: StoreContext, today: date, *, days: int = 60) -> int:
    """The Shanghai exchange's closures in the next `days`, and the last session before each,
    as confirmed all-day events (UIDs from their dates, so a rerun adds nothing). A closure the
    admins corrected since is updated, one that no longer exists is cancelled (calendar apps
    see both through SEQUENCE). Returns how many events were added or changed."""
    calendar = await closures.load(ctx)
    end = min(today + timedelta(days=days), calendar.ends)
    if today > end:  # nothing known: say so, but never stop the caller
        log.warning("the Shanghai exchange calendar ends %s: no closures added", calendar.ends)
        return 0
    wanted: dict[str, tuple[str, date, date]] = {}
    for closure in calendar.closures(today, end):
        guess = "（预估）" if closure.estimated else ""
        wanted[f"xshg-closed-{closure.first_day}@digestbot"] = (
            f"A股{closure.name}休市{guess}",
            closure.first_day,
            closure.last_day,
        )
        wanted[f"xshg-last-{closure.last_session_before}@digestbot"] = (
            f"{closure.name}前最后一个交易日（{closure.reopens:%-m月%-d日}开市）{guess}",
            closure.last_session_before,
            closure.last_session_before,
        )
    changed = 0
    async with ctx.sessions() as session, session.begin():
        found = await session.exec(
            select(CalendarEvent).where(
                or_(
                    col(CalendarEvent.uid).in_(wanted),  # a closure under way began before today
                    and_(
                        col(CalendarEvent.uid).startswith("xshg-"), col(CalendarEvent.day) >= today
                    ),
                )
            )
        )
        existing = {event.uid: event for event in found.all()}
        for uid, event in existing.items():  # gone since: cancelled, so feeds drop it
            if uid in wanted or event.status == "cancelled" or (event.day or end) > end:
                continue
            event.status, event.sequence, event.updated_at = (
                "cancelled",
                event.sequence + 1,
                utcnow(),
            )
            session.add(event)
            changed += 1
        for uid, (title, first, last) in wanted.items():
            event = existing.get(uid) or CalendarEvent(
                uid=uid,
                starts_at=datetime.combine(first, time.min, tzinfo=ctx.tz),
                all_day=True,
                day=first,
                kind="holiday",
                importance=2,
                title="",
            )
            end_day = last if last != first else None
            if (event.title, event.end_day, event.status) == (title, end_day, "confirmed"):
                continue
            if event.id is not None:
                event.sequence += 1  # calendar apps apply a change only with a higher SEQUENCE
            event.title, event.end_day, event.status = title, end_day, "confirmed"
            event.updated_at = utcnow()
            session.add(event)
            changed += 1
    return changed


def shown_to(now: datetime, *, post_id: Any, subscriber_id: Any) -> ColumnElement[bool]:
    """The one rule for who sees an event, as SQL (reminders, /calendar and the feed): an
    event of no post (the admin's, the exchange's closures) or of a public post is for
    everyone; one from a gated post only for a subscriber holding a grant that covers `now`.
    `post_id` and `subscriber_id` are columns or values, so a query over readers (reminders)
    and one over events (a reader's calendar) each join nothing."""
    gated = select(Post.id).where(col(Post.gated).is_(True))
    return or_(
        post_id.is_(None),
        post_id.not_in(gated),
        subscriber_id.in_(grant_holders(now)),
    )


async def listing(
    ctx: StoreContext,
    *,
    reader: Subscriber | None,
    start: datetime | None = None,
    days: int | None = None,
    statuses: tuple[str, ...] = ("confirmed",),
    now: datetime | None = None,
) -> list[CalendarEvent]:
    """Events by start time (unresolved proposals last); from `start` for `days` if given.
    `reader` sees only what `shown_to` lets them see at `now`; None (the admin) sees all."""
    async with ctx.sessions() as session:
        query = select(CalendarEvent).where(col(CalendarEvent.status).in_(statuses))
        if reader is not None:
            query = query.where(
                shown_to(
                    now or utcnow(),
                    post_id=col(CalendarEvent.post_id),
                    subscriber_id=literal(reader.id),
                )
            )
        if start is not None:
            # an all-day range that began earlier is still on while its last day is ahead
            lower = datetime.combine(start.astimezone(ctx.tz).date(), time.min, tzinfo=ctx.tz)
            query = query.where(
                or_(
                    col(CalendarEvent.starts_at) >= lower,
                    col(CalendarEvent.end_day) >= lower.date(),
                )
            )
            if days is not None:
                query = query.where(col(CalendarEvent.starts_at) < start + timedelta(days=days))
        rows = list((await session.exec(query)).all())
    far = datetime.max.replace(tzinfo=ctx.tz)
    return sorted(rows, key=lambda e: (e.starts_at or far, e.id or 0))


def when_text(event: CalendarEvent, tz: ZoneInfo) -> str:
    """How a reader sees the date: 2月13日 周五 21:30, or 2月16日 周一–2月23日 for a range."""
    if event.starts_at is None:
        return f"日期待定（{event.when_text}）" if event.when_text else "日期待定"
    local = event.starts_at.astimezone(tz)
    weekday = "一二三四五六日"[local.weekday()]
    if event.all_day:
        text = f"{local:%-m月%-d日} 周{weekday}"
        return text + (f"–{event.end_day:%-m月%-d日}" if event.end_day else "")
    return f"{local:%-m月%-d日} 周{weekday} {local:%H:%M}"


def line(event: CalendarEvent, tz: ZoneInfo) -> str:
    """One calendar line: ⭐ for importance 3."""
    star = "⭐ " if event.importance >= 3 else ""
    return f"{when_text(event, tz)}  {star}{event.title}"


async def week_ahead(ctx: StoreContext, subscriber: Subscriber, now: datetime | None = None) -> str:
    """/calendar: the next seven days, of the events this reader may see."""
    now = now or utcnow()
    events = await listing(ctx, reader=subscriber, start=now, days=7, now=now)
    if not events:
        return "未来 7 天没有已确认的事件。"
    lines = [line(event, ctx.tz) for event in events]
    state = "开" if subscriber.reminders else "关"
    return "📅 未来 7 天（北京时间）\n" + "\n".join(lines) + f"\n\n提醒：{state}（/remind on|off）"


def event_json(event: CalendarEvent, tz: ZoneInfo, slug: str | None) -> dict[str, Any]:
    """The `digestbot events --json` contract."""
    starts: str | None = None
    if event.starts_at is not None:
        local = event.starts_at.astimezone(tz)
        starts = local.date().isoformat() if event.all_day else local.isoformat()
    return {
        "id": event.id,
        "uid": event.uid,
        "title": event.title,
        "starts_at": starts,
        "end_day": event.end_day.isoformat() if event.end_day else None,
        "all_day": event.all_day,
        "region": event.region,
        "kind": event.kind,
        "importance": event.importance,
        "status": event.status,
        "when_text": event.when_text,
        "post_slug": slug,
    }


async def calendar_token(ctx: StoreContext, subscriber: Subscriber, *, reset: bool = False) -> str:
    """The subscriber's iCalendar feed secret; `reset` revokes the old URL."""
    async with ctx.sessions() as session, session.begin():
        row = await session.get(Subscriber, subscriber.id)
        assert row is not None
        if row.calendar_token is None or reset:
            row.calendar_token = secrets.token_urlsafe(24)
            session.add(row)
        return row.calendar_token


async def by_token(ctx: StoreContext, token: str) -> Subscriber | None:
    """The active subscriber whose feed this is, if any."""
    async with ctx.sessions() as session:
        found = await session.exec(
            select(Subscriber).where(
                Subscriber.calendar_token == token, Subscriber.status == "active"
            )
        )
        return found.first()
