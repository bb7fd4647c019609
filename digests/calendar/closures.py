"""The exchange calendar in force: the library's closed days with the admins' corrections
(/closure_add, /closure_remove), the listing `digestbot calendar closures` prints, and the
one-time warning that a coming year's holiday arrangement is not known yet."""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from digests.days import trading
from digests.days.trading import Override, TradingCalendar
from digests.models import MarketClosure, NoticeSent
from digests.replies import StoreContext, command

MAX_SPAN = timedelta(days=31)  # the longest closure the exchange has had is 春节's ~9 days
NAME_CHARS = 40
COVERAGE_DAYS = 60  # the admins hear of a missing year this long before it matters
WEEKDAYS = "一二三四五六日"


@functools.lru_cache(maxsize=8)
def _calendar(overrides: tuple[Override, ...]) -> TradingCalendar:
    return TradingCalendar(overrides)


async def load(ctx: StoreContext) -> TradingCalendar:
    """The calendar in force now (one small query; the calendar is built once per change)."""
    async with ctx.sessions() as session:
        rows = (await session.exec(select(MarketClosure).order_by(col(MarketClosure.day)))).all()
    return _calendar(tuple(Override(r.day, r.closed, r.name, r.added_by) for r in rows))


def _weekdays(first: date, last: date) -> list[date]:
    if last < first:
        raise ValueError(f"结束日 {last} 早于起始日 {first}。")
    if last - first > MAX_SPAN:
        raise ValueError("一次最多 31 天。")
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    weekdays = [day for day in days if day.weekday() < 5]
    if not weekdays:
        raise ValueError("这段日期都是周末，本来就休市。")
    return weekdays


async def add(ctx: StoreContext, first: date, last: date, name: str, *, by: str) -> list[date]:
    """Mark the weekdays from `first` to `last` closed, named `name`; they override the
    library. Entering a year's closures makes that year count as announced."""
    name = name.strip()
    if not name or len(name) > NAME_CHARS:
        raise ValueError(f"请写上休市名称（{NAME_CHARS} 字以内），例如 春节。")
    days = _weekdays(first, last)
    async with ctx.sessions() as session, session.begin():
        for day in days:
            await session.merge(MarketClosure(day=day, closed=True, name=name, added_by=by))
    return days


async def remove(ctx: StoreContext, first: date, last: date, *, by: str) -> list[date]:
    """The weekdays from `first` to `last` trade after all: the admins' closures there are
    dropped, and a day the library closes is overridden as open. Returns the days that were
    closed and now are not."""
    before = await load(ctx)
    days = _weekdays(first, last)
    async with ctx.sessions() as session, session.begin():
        await session.exec(delete(MarketClosure).where(col(MarketClosure.day).in_(days)))
        for day in days:
            if day in trading.library().closed:
                session.add(MarketClosure(day=day, closed=False, added_by=by))
    return [day for day in days if day in before.closed]


async def listing(ctx: StoreContext, start: date, end: date) -> list[dict[str, Any]]:
    """What is in force from `start` to `end`: each closed weekday and each day an admin
    opened, with where it came from (the `calendar closures --json` contract)."""
    calendar = await load(ctx)
    async with ctx.sessions() as session:
        found = await session.exec(
            select(MarketClosure).where(
                col(MarketClosure.day) >= start, col(MarketClosure.day) <= end
            )
        )
        by_day = {row.day: row for row in found.all()}
    entries = [
        (closed.day, True, closed.name, closed.source, closed.estimated)
        for closed in calendar.closed_days(start, end)
    ]
    entries += [(row.day, False, "", "admin", False) for row in by_day.values() if not row.closed]
    return [
        {
            "day": day.isoformat(),
            "weekday": "周" + WEEKDAYS[day.weekday()],
            "closed": closed,
            "name": name,
            "source": source,
            "estimated": estimated,
            "by": by_day[day].added_by if day in by_day else "",
        }
        for day, closed, name, source, estimated in sorted(entries)
    ]


def describe(closure: trading.Closure) -> str:
    """春节 2027-02-05 至 2027-02-10（预估）."""
    last = f" 至 {closure.last_day}" if closure.last_day != closure.first_day else ""
    return f"{closure.name} {closure.first_day}{last}" + ("（预估）" if closure.estimated else "")


async def coverage_notice(ctx: StoreContext, today: date) -> str | None:
    """A warning for the admins, once per year, when a day of the next 60 lies in a year whose
    holiday arrangement the calendar does not have; None when there is nothing (new) to say."""
    calendar = await load(ctx)
    missing = calendar.unannounced_years(today, today + timedelta(days=COVERAGE_DAYS))
    if not missing:
        return None
    year = missing[0]
    try:
        async with ctx.sessions() as session, session.begin():
            session.add(NoticeSent(key=f"calendar-gap:{year}"))
    except IntegrityError:
        return None  # said already (by this process or another)
    known = max(calendar.announced)
    if year > calendar.ends.year:
        guess = "之后的日子无从估算，所有日子都当作交易日"
    else:
        closures = calendar.closures(date(year, 1, 1), date(year, 12, 31))
        listed = "、".join(describe(closure) for closure in closures)
        guess = f"目前按法定假日估算：{listed}"
    add = command("closure_add", "起始日 [结束日] 名称")  # spelled by the admin's channel
    return (
        f"⚠️ A股日历：{year} 年的休市安排还不知道（{trading.LIBRARY} 只到 {known} 年），"
        f"{guess}。交易所公告后，请用 {add} 录入全部休市日"
        f"（录入后 {year} 年以录入为准；也可 digestbot calendar closure-add），或升级 holidays。"
    )
