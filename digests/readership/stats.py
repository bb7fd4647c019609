"""The readership in figures: readers by channel, unlocked readers per access period, new
readers and readers who stopped per week, conversion from /start to first unlock, and per
publication: delivered, failed, opened through the page link (unique readers), button taps.

Definitions (docs/readers.md says the same):
- a week runs Monday 00:00 to Monday 00:00 in TIMEZONE; the series ends with the current week;
- a week's `readers` are subscribers who had started by its end (or now, for the current week)
  and had not stopped or been found gone by then; `unlocked` are those of them holding a grant
  that covers that moment;
- conversion counts the readers who started in the window (`since` to now; WeCom robots never
  unlock and are left out) and those of them who unlocked at least once;
- a publication's `delivered`/`failed` count its digest rows and the edition rows carrying it.

The subscribers and grants are read as compact rows and counted here: one pass over them serves
every week, where SQL per week would be 12 × 4 queries, each written twice for two dialects.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from digests.models import (
    AccessGrant,
    Delivery,
    Edition,
    Post,
    Publication,
    ReaderAction,
    Status,
    Subscriber,
    table_of,
    utcnow,
)
from digests.readership.actions import PAGE_OPEN, TAP
from digests.replies import StoreContext

WEEKS = 12  # the chart's and the default report's span


@dataclass
class Week:
    """One week of the series."""

    start: date  # its Monday, in TIMEZONE
    readers: int = 0
    unlocked: int = 0
    new: int = 0
    stopped: int = 0


@dataclass
class Readership:
    """The whole report; `as_json()` is what `digestbot stats --json` prints."""

    since: date
    now: datetime
    channels: dict[str, dict[str, int]] = field(default_factory=dict)
    periods: dict[str, int] = field(default_factory=dict)
    weeks: list[Week] = field(default_factory=list)
    started: int = 0
    converted: int = 0
    publications: list[dict[str, Any]] = field(default_factory=list)

    @property
    def conversion(self) -> float | None:
        """Share of the window's new readers who unlocked; None when nobody started."""
        return round(self.converted / self.started, 4) if self.started else None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON types only (dates as ISO strings)."""
        return {
            "since": self.since.isoformat(),
            "now": self.now.isoformat(),
            "readers_by_channel": self.channels,
            "unlocked_per_period": self.periods,
            "weeks": [{**asdict(w), "start": w.start.isoformat()} for w in self.weeks],
            "conversion": {
                "started": self.started,
                "unlocked": self.converted,
                "rate": self.conversion,
            },
            "publications": self.publications,
        }


def monday(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def _at(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


async def readership(
    ctx: StoreContext, *, since: date | None = None, now: datetime | None = None
) -> Readership:
    """The report for the weeks from `since`'s (default: the last WEEKS weeks) to now's."""
    now = now or utcnow()
    tz = ctx.tz
    this_week = monday(now.astimezone(tz).date())
    first = monday(since) if since else this_week - timedelta(weeks=WEEKS - 1)
    start = _at(first, tz)
    report = Readership(since=first, now=now)
    subs, grant = table_of(Subscriber).c, table_of(AccessGrant).c
    async with ctx.sessions() as session:
        conn = await session.connection()
        subscribers = [
            tuple(row)
            for row in await conn.execute(
                sa_select(
                    subs.id, subs.channel, subs.status, subs.created_at, subs.stopped_at,
                    subs.updated_at,
                )
            )
        ]  # fmt: skip
        grants = [
            tuple(row)
            for row in await conn.execute(
                sa_select(
                    grant.subscriber_id, grant.label, grant.starts_at, grant.ends_at,
                    grant.created_at,
                )
            )
        ]  # fmt: skip
        report.publications = await _publications(session, start)
    channels: dict[str, Counter[str]] = defaultdict(Counter)
    stopped_at: dict[int, datetime | None] = {}
    for sid, channel, status, _, stopped, updated in subscribers:
        channels[channel][status] += 1
        stopped_at[sid] = None if status == "active" else (stopped or updated)
    report.channels = {name: dict(sorted(c.items())) for name, c in sorted(channels.items())}
    holders: dict[str, set[int]] = defaultdict(set)
    first_unlock: dict[int, datetime] = {}
    for sid, label, _, ends, created in grants:
        if ends > start:
            holders[label].add(sid)
        first_unlock[sid] = min(created, first_unlock.get(sid, created))
    report.periods = {label: len(ids) for label, ids in sorted(holders.items())}
    week = first
    while week <= this_week:
        begin, end = _at(week, tz), _at(week + timedelta(weeks=1), tz)
        moment = min(end, now)
        row = Week(week)
        alive = set()
        for sid, _, _, created, _, _ in subscribers:
            gone = stopped_at[sid]
            if created < moment and (gone is None or gone >= moment):
                alive.add(sid)
            row.new += begin <= created < end
            row.stopped += gone is not None and begin <= gone < end
        covering = {g[0] for g in grants if g[2] <= moment < g[3]}
        row.readers, row.unlocked = len(alive), len(alive & covering)
        report.weeks.append(row)
        week += timedelta(weeks=1)
    started = [s[0] for s in subscribers if s[3] >= start and s[1] != "wecom"]
    report.started = len(started)
    report.converted = sum(1 for sid in started if sid in first_unlock)
    return report


async def _publications(session: Any, start: datetime) -> list[dict[str, Any]]:
    """Per publication published since `start`: delivered, failed, unique page opens, taps."""
    pubs = (
        await session.exec(
            select(Publication.id, Post.slug, Post.title, Publication.published_at)
            .join(Post, col(Post.id) == col(Publication.post_id))
            .where(col(Publication.published_at) >= start)
            .order_by(col(Publication.published_at), col(Publication.id))
        )
    ).all()
    if not pubs:
        return []
    refs = [str(p[0]) for p in pubs]
    outcome: dict[int, Counter[str]] = defaultdict(Counter)
    rows = await session.exec(
        select(Delivery.ref, Delivery.status, func.count())
        .where(Delivery.kind == "digest", col(Delivery.ref).in_(refs))
        .group_by(Delivery.ref, Delivery.status)
    )
    for ref, status, n in rows.all():
        outcome[int(ref)][status] += n
    carried: dict[int, list[int]] = {}
    for edition in (await session.exec(select(Edition))).all():
        carried[edition.id] = [p for p in edition.publication_ids if str(p) in refs]
    wanted = [str(e) for e, ps in carried.items() if ps]
    if wanted:
        rows = await session.exec(
            select(Delivery.ref, Delivery.status, func.count())
            .where(Delivery.kind == "edition", col(Delivery.ref).in_(wanted))
            .group_by(Delivery.ref, Delivery.status)
        )
        for ref, status, n in rows.all():
            for pid in carried[int(ref)]:
                outcome[pid][status] += n
    acted = await session.exec(
        select(
            ReaderAction.publication_id,
            ReaderAction.kind,
            func.count(),
            func.count(func.distinct(ReaderAction.subscriber_id)),
        )
        .where(col(ReaderAction.publication_id).in_([p[0] for p in pubs]))
        .group_by(col(ReaderAction.publication_id), col(ReaderAction.kind))
    )
    actions = {(pid, kind): (n, unique) for pid, kind, n, unique in acted.all()}
    return [
        {
            "publication": pid,
            "slug": slug,
            "title": title,
            "published_at": published.isoformat(),
            "delivered": outcome[pid][Status.SENT],
            "failed": outcome[pid][Status.FAILED],
            "opened": actions.get((pid, PAGE_OPEN), (0, 0))[1],
            "taps": actions.get((pid, TAP), (0, 0))[0],
        }
        for pid, slug, title, published in pubs
    ]


def summary(report: Readership) -> str:
    """The report as the admin reads it in /stats and the weekly message (Chinese)."""
    by_channel = "，".join(
        f"{name} {c.get('active', 0)}（退订/失联 {c.get('stopped', 0) + c.get('gone', 0)}）"
        for name, c in report.channels.items()
    )
    lines = [f"读者（活跃）：{by_channel or '暂无'}"]
    if report.periods:
        lines.append("会员期解锁：" + "，".join(f"{k} {v} 人" for k, v in report.periods.items()))
    recent = report.weeks[-4:]
    lines.append(
        "近几周（周一起）新增/退订："
        + "；".join(f"{w.start:%m-%d} +{w.new}/-{w.stopped}" for w in recent)
    )
    rate = report.conversion
    shown = f"{rate:.0%}" if rate is not None else "—"
    lines.append(
        f"自 {report.since} 起新订阅 {report.started} 人，解锁 {report.converted} 人（{shown}）"
    )
    for p in report.publications[-5:]:
        lines.append(
            f"《{p['title'][:20]}》送达 {p['delivered']}，失败 {p['failed']}，"
            f"打开 {p['opened']} 人，按钮 {p['taps']} 次"
        )
    return "\n".join(lines)
