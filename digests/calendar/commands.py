"""The calendar commands as use cases returning Replies, shared by every channel:
/calendar, /remind on|off, /calendar_reset for subscribers; /events, /event_add,
/event_cancel and the 确认 / 忽略 buttons for admins."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from digests.calendar import closures, events
from digests.calendar.events import Proposals
from digests.models import Subscriber, utcnow
from digests.readers.account import update_settings
from digests.replies import OWN_ARGS, Reply, StoreContext, command

ADD_USAGE = f"用法：{command('event_add', 'YYYY-MM-DD [HH:MM] 标题 [重要性1-3]')}"
_ADD = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\s+(\d{1,2}:\d{2}))?\s+(.+?)(?:\s+([123]))?$")
CLOSURE_USAGE = (
    f"用法：{command('closure_add', '起始日 [结束日] 名称')}"
    f"（如 {command('closure_add', '2027-02-05 2027-02-12 春节')}）；"
    f"{command('closure_remove', '起始日 [结束日]')}"
)
_SPAN = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})(?:\s+(\d{4}-\d{1,2}-\d{1,2}))?(?:\s+(.+))?$")


def feed_url(base_url: str, token: str) -> str:
    """The subscriber's iCalendar feed (served by the app's web server)."""
    return f"{base_url.rstrip('/')}/calendar/{token}.ics"


async def calendar(
    ctx: StoreContext, reader: Subscriber, *, base_url: str, now: datetime | None = None
) -> Reply:
    """/calendar: the week ahead and the reader's own feed URL."""
    text = await events.week_ahead(ctx, reader, now)
    token = await events.calendar_token(ctx, reader)
    return Reply(f"{text}\n订阅到手机日历：{feed_url(base_url, token)}")


async def calendar_reset(ctx: StoreContext, reader: Subscriber, *, base_url: str) -> Reply:
    """/calendar_reset: a new feed URL; the old one stops working."""
    token = await events.calendar_token(ctx, reader, reset=True)
    return Reply(f"日历订阅地址已更换，旧地址失效：\n{feed_url(base_url, token)}")


async def remind(ctx: StoreContext, reader: Subscriber, arg: str) -> Reply:
    """/remind on|off."""
    choice = {"on": True, "开": True, "off": False, "关": False}.get(arg.strip().lower())
    if choice is None:
        return Reply(
            f"用法：{command('remind', OWN_ARGS)}（现在：{'开' if reader.reminders else '关'}）"
        )
    await update_settings(ctx, reader, reminders=choice)
    return Reply(
        "已开启事件提醒：前一晚 20:00，重要事件开始前 30 分钟。" if choice else "已关闭事件提醒。"
    )


def proposals_reply(found: Proposals, tz: ZoneInfo) -> Reply | None:
    """What the admin sees after publishing: each proposed event with 确认 / 忽略."""
    if not found.proposed:
        return None
    lines = [f"#{e.id} {events.line(e, tz)}" for e in found.proposed]
    past = f"\n（另有 {found.past} 个已过去的事件未加入）" if found.past else ""
    choices = [
        (label, f"{action}:{e.id}")
        for e in found.proposed
        for label, action in ((f"确认 #{e.id}", "evok"), (f"忽略 #{e.id}", "evno"))
    ]
    text = "摘要中的事件（确认后提醒订阅者）：\n" + "\n".join(lines) + past
    return Reply(text, choices=choices)


async def list_events(ctx: StoreContext, now: datetime | None = None) -> Reply:
    """/events: proposed and confirmed events from today on (and undated proposals)."""
    # reader=None: the admin's list holds every event, gated or not
    found = await events.listing(
        ctx, reader=None, start=now or utcnow(), statuses=("proposed", "confirmed")
    )
    proposals = await events.listing(ctx, reader=None, statuses=("proposed",))
    undated = [e for e in proposals if e.starts_at is None]
    rows = [*found, *undated]
    if not rows:
        return Reply(f"没有待办事件。{command('event_add')} 添加。")
    marks = {"proposed": "待确认", "confirmed": "已确认"}
    lines = [f"#{e.id} [{marks[e.status]}] {events.line(e, ctx.tz)}" for e in rows[:50]]
    return Reply("\n".join(lines) + f"\n\n{command('event_cancel', 'ID')} 取消 · " + ADD_USAGE)


async def add_event(ctx: StoreContext, args: str) -> Reply:
    """/event_add YYYY-MM-DD [HH:MM] 标题 [重要性]."""
    match = _ADD.match(args.strip())
    if match is None:
        return Reply(ADD_USAGE)
    day_text, clock, title, importance = match.groups()
    try:
        day = date.fromisoformat(day_text)
        at = time.fromisoformat(clock.zfill(5)) if clock else None
    except ValueError:
        return Reply(f"日期或时间不对。{ADD_USAGE}")
    event = await events.add(ctx, day, at, title, int(importance or 2))
    return Reply(f"已添加 #{event.id} {events.line(event, ctx.tz)}")


async def decide(ctx: StoreContext, args: str, *, confirm: bool) -> Reply:
    """确认 / 忽略 buttons and /event_cancel ID."""
    if not args.strip().lstrip("#").isdigit():
        return Reply(f"用法：{command('event_cancel', 'ID')}（ID 见 {command('events')}）")
    event = await events.decide(ctx, int(args.strip().lstrip("#")), confirm=confirm)
    if event is None:
        return Reply("找不到这个事件。")
    state = "已确认" if confirm else "已取消"
    return Reply(f"{state} #{event.id} {events.line(event, ctx.tz)}")


def _span(args: str) -> tuple[date, date, str]:
    match = _SPAN.match(args.strip())
    if match is None:
        raise ValueError(CLOSURE_USAGE)
    first_text, last_text, name = match.groups()
    first = _day(first_text)
    return first, _day(last_text) if last_text else first, (name or "").strip()


def _day(text: str) -> date:
    year, month, day = (int(part) for part in text.split("-"))
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"没有 {text} 这一天。") from None


def _days_text(days: list[date]) -> str:
    shown = "、".join(f"{d:%-m月%-d日}" for d in days[:12])
    return shown + (f" 等 {len(days)} 天" if len(days) > 12 else "")


async def closure_add(ctx: StoreContext, args: str, *, by: str) -> Reply:
    """/closure_add FROM [UNTIL] 名称: the exchange is closed on those weekdays."""
    first, last, name = _span(args)
    if not name:
        raise ValueError(CLOSURE_USAGE)
    days = await closures.add(ctx, first, last, name, by=by)
    await events.sync_market_closures(ctx, utcnow().astimezone(ctx.tz).date())
    return Reply(f"已记为休市（{name}）：{_days_text(days)}。{first.year} 年的休市以录入为准。")


async def closure_remove(ctx: StoreContext, args: str, *, by: str) -> Reply:
    """/closure_remove FROM [UNTIL]: those weekdays trade after all."""
    first, last, extra = _span(args)
    if extra:
        raise ValueError(CLOSURE_USAGE)
    opened = await closures.remove(ctx, first, last, by=by)
    await events.sync_market_closures(ctx, utcnow().astimezone(ctx.tz).date())
    if not opened:
        return Reply("这些日子本来就不休市，没有变化。")
    return Reply(f"已改为交易日：{_days_text(opened)}。")


async def list_closures(ctx: StoreContext, today: date | None = None) -> Reply:
    """/closures: the closures in force from today to the end of the calendar's data."""
    today = today or utcnow().astimezone(ctx.tz).date()
    market = await closures.load(ctx)
    found = market.closures(today, market.ends) if today <= market.ends else []
    lines = [closures.describe(closure) for closure in found]
    if not lines:
        return Reply("日历里没有今后的休市。" + CLOSURE_USAGE)
    note = (
        "\n（预估 = 放假安排未公布，按法定假日估算；公告后请录入。）"
        if any(c.estimated for c in found)
        else ""
    )
    return Reply("A股休市：\n" + "\n".join(lines) + note + "\n\n" + CLOSURE_USAGE)
