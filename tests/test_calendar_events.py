"""Calendar use cases on SQLite and PostgreSQL, with frozen clocks: proposals from a digest,
the admin's decisions and additions, exchange closures, reminders through the outbox (opt-out,
catch-up, cancellation), the JSON contract and the feed token."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from sqlmodel import col, select

from bot.console import ConsoleChannel
from digests.calendar import closures, commands, events, reminders
from digests.calendar.events import Proposals
from digests.days import trading
from digests.kinds import registry
from digests.models import CalendarEvent, Delivery, Post, Publication
from digests.outbox.dispatcher import send_queued
from digests.publishing.context import AdminContext
from digests.readers import account, passwords
from digests.summarize import digesting
from digests.summarize.schema import Digest
from tests.conftest import SHANGHAI, reader

SEED = "2-10-zhui-zong"  # published 2026-02-12 13:27 Beijing: 非农周三, CPI周五, 周五后放假
GRACE = timedelta(minutes=120)
LEADS = ["eve", "30m"]


def bj(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """A frozen moment in 2026, Beijing time."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI)


async def propose_seed(actx: AdminContext, *extra: dict[str, str]) -> tuple[Post, Proposals]:
    """The seed post's extractive digest with the test's own events, proposed."""
    post = await digesting.find_post(actx.digests, SEED)
    stored = await digesting.digest_post(actx.digests, post)
    assert stored.mode == "extractive"
    items = [
        {"title": "美国CPI", "when": "周五"},
        {"title": "美国非农", "when": "周三"},
        {"title": "春节休市", "when": "节后"},
        *extra,
    ]
    digest = Digest.model_validate({**stored.data, "events": items})
    return post, await events.propose_from_digest(actx.store, post, digest)


async def all_events(actx: AdminContext) -> list[CalendarEvent]:
    async with actx.store.sessions() as session:
        return list(
            (await session.exec(select(CalendarEvent).order_by(col(CalendarEvent.id)))).all()
        )


async def get_event(actx: AdminContext, event_id: int | None) -> CalendarEvent:
    async with actx.store.sessions() as session:
        found = await session.get(CalendarEvent, event_id)
    assert found is not None
    return found


async def deliveries(actx: AdminContext, kind: str) -> list[Delivery]:
    async with actx.store.sessions() as session:
        query = select(Delivery).where(Delivery.kind == kind).order_by(col(Delivery.id))
        return list((await session.exec(query)).all())


async def queue(actx: AdminContext, now: datetime) -> int:
    return await reminders.queue_due(actx.store, leads=LEADS, grace=GRACE, now=now)


# ---- proposals and the admin's decisions ----------------------------------------------------


async def test_seed_digest_proposes_future_events_once(actx: AdminContext) -> None:
    """CPI 周五 → proposed at 2026-02-13 21:30 +08:00; 非农 周三 is past (no row); a second
    proposal of the same digest keeps the same rows (stable UIDs)."""
    post, first = await propose_seed(actx)
    assert first.past == 1
    by_title = {e.title: e for e in first.proposed}
    assert set(by_title) == {"美国CPI", "春节休市"}
    cpi = by_title["美国CPI"]
    assert cpi.status == "proposed" and cpi.post_id == post.id and not cpi.all_day
    assert cpi.starts_at is not None
    assert cpi.starts_at.astimezone(SHANGHAI).isoformat() == "2026-02-13T21:30:00+08:00"
    assert (cpi.region, cpi.kind, cpi.importance, cpi.when_text) == ("US", "macro", 3, "周五")
    holiday = by_title["春节休市"]
    assert holiday.all_day and holiday.day == date(2026, 2, 24)  # the reopening session

    _, second = await propose_seed(actx)
    assert second.past == 1
    assert sorted(e.uid for e in second.proposed) == sorted(e.uid for e in first.proposed)
    stored = await all_events(actx)
    assert len(stored) == 2 and "美国非农" not in {e.title for e in stored}
    assert {e.id for e in stored} == {e.id for e in first.proposed}


async def test_decided_events_are_not_proposed_again(actx: AdminContext) -> None:
    """Once the admin confirmed an event, re-proposing the digest leaves it alone."""
    _, first = await propose_seed(actx)
    cpi = next(e for e in first.proposed if e.title == "美国CPI")
    await events.decide(actx.store, cpi.id or 0, confirm=True)
    _, again = await propose_seed(actx)
    assert [e.title for e in again.proposed] == ["春节休市"]
    assert (await get_event(actx, cpi.id)).status == "confirmed"


async def test_a_repeated_digest_event_is_proposed_once(actx: AdminContext) -> None:
    """A digest naming the same event twice (same title and when) proposes one row, once."""
    _, found = await propose_seed(actx, {"title": "美国CPI", "when": "周五"})
    assert len(await all_events(actx)) == 2
    assert sorted(e.title for e in found.proposed) == ["春节休市", "美国CPI"]


async def test_confirm_and_cancel_raise_the_sequence(actx: AdminContext) -> None:
    """确认 → confirmed, SEQUENCE 1; 忽略 → cancelled, SEQUENCE raised; an undated proposal
    cannot be confirmed; an unknown id gives None."""
    _, found = await propose_seed(actx, {"title": "美联储议息", "when": "近期"})
    by_title = {e.title: e for e in found.proposed}
    undated = by_title["美联储议息"]
    assert undated.starts_at is None and undated.status == "proposed"

    confirmed = await events.decide(actx.store, by_title["美国CPI"].id or 0, confirm=True)
    assert confirmed is not None and (confirmed.status, confirmed.sequence) == ("confirmed", 1)
    stored = await get_event(actx, confirmed.id)
    assert (stored.status, stored.sequence) == ("confirmed", 1)

    holiday = by_title["春节休市"]
    cancelled = await events.decide(actx.store, holiday.id or 0, confirm=False)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert cancelled.sequence > holiday.sequence
    assert (await get_event(actx, holiday.id)).status == "cancelled"

    with pytest.raises(ValueError, match="没有确定的日期"):
        await events.decide(actx.store, undated.id or 0, confirm=True)
    assert (await get_event(actx, undated.id)).status == "proposed"
    assert await events.decide(actx.store, 999_999, confirm=True) is None


async def test_admin_adds_all_day_and_timed_events(actx: AdminContext) -> None:
    """/event_add: no time → all-day at midnight Beijing; a time → timed; both confirmed;
    importance outside 1–3 or an empty title is refused."""
    all_day = await events.add(actx.store, date(2026, 3, 5), None, " 两会开幕 ")
    timed = await events.add(actx.store, date(2026, 3, 18), time(14, 0), "FOMC", importance=3)
    stored_all_day, stored_timed = [await get_event(actx, e.id) for e in (all_day, timed)]
    assert stored_all_day.title == "两会开幕" and stored_all_day.all_day
    assert stored_all_day.day == date(2026, 3, 5) and stored_all_day.status == "confirmed"
    assert stored_all_day.starts_at == bj(3, 5)
    assert not stored_timed.all_day and stored_timed.starts_at == bj(3, 18, 14)
    assert (stored_timed.importance, stored_timed.status) == (3, "confirmed")
    assert stored_all_day.uid != stored_timed.uid
    for importance in (0, 4):
        with pytest.raises(ValueError, match="重要性"):
            await events.add(actx.store, date(2026, 3, 5), None, "x", importance=importance)
    with pytest.raises(ValueError, match="标题"):
        await events.add(actx.store, date(2026, 3, 5), None, "   ")
    assert len(await all_events(actx)) == 2


async def test_market_closures_become_confirmed_all_day_events_once(actx: AdminContext) -> None:
    """Spring Festival 2026: closed 02-16..02-23, last session 02-13; a rerun adds nothing;
    Labour Day: closed 05-01..05-05, last session 04-30."""
    assert await events.sync_market_closures(actx.store, date(2026, 2, 1)) == 2
    assert await events.sync_market_closures(actx.store, date(2026, 2, 1)) == 0
    assert await events.sync_market_closures(actx.store, date(2026, 4, 20)) >= 2
    by_uid = {e.uid: e for e in await all_events(actx)}
    for uid, title, first, last in (
        ("xshg-closed-2026-02-16@digestbot", "A股春节休市", date(2026, 2, 16), date(2026, 2, 23)),
        (
            "xshg-last-2026-02-13@digestbot",
            "春节前最后一个交易日（2月24日开市）",
            date(2026, 2, 13),
            None,
        ),
        ("xshg-closed-2026-05-01@digestbot", "A股劳动节休市", date(2026, 5, 1), date(2026, 5, 5)),
        (
            "xshg-last-2026-04-30@digestbot",
            "劳动节前最后一个交易日（5月6日开市）",
            date(2026, 4, 30),
            None,
        ),
    ):
        event = by_uid[uid]
        assert (event.title, event.day, event.end_day) == (title, first, last)
        assert (event.all_day, event.status, event.kind) == (True, "confirmed", "holiday")
        assert event.starts_at == datetime.combine(first, time.min, tzinfo=SHANGHAI)
    assert await events.sync_market_closures(actx.store, date(2026, 4, 20)) == 0


async def test_corrected_closures_update_and_cancel_their_events(actx: AdminContext) -> None:
    """An admin extends 春节 2026 by a day: the closure event gets the new last day and the
    last-session event the new reopening, each with a higher SEQUENCE; reopening every day
    cancels both, so calendar apps drop them."""
    ctx = actx.store
    await events.sync_market_closures(ctx, date(2026, 2, 1))
    before = {e.uid: e for e in await all_events(actx)}
    await closures.add(ctx, date(2026, 2, 24), date(2026, 2, 24), "春节", by="test")
    assert await events.sync_market_closures(ctx, date(2026, 2, 1)) == 2
    after = {e.uid: e for e in await all_events(actx)}
    closed, last = "xshg-closed-2026-02-16@digestbot", "xshg-last-2026-02-13@digestbot"
    assert after[closed].end_day == date(2026, 2, 24)
    assert after[last].title == "春节前最后一个交易日（2月25日开市）"
    assert all(after[uid].sequence == before[uid].sequence + 1 for uid in (closed, last))
    opened = await closures.remove(ctx, date(2026, 2, 16), date(2026, 2, 24), by="test")
    assert len(opened) == 7
    await events.sync_market_closures(ctx, date(2026, 2, 1))
    final = {e.uid: e for e in await all_events(actx)}
    assert (final[closed].status, final[last].status) == ("cancelled", "cancelled")
    assert await events.sync_market_closures(ctx, date(2026, 2, 1)) == 0


async def test_closure_listing_says_where_each_day_came_from(actx: AdminContext) -> None:
    """The library's days name the installed release; an admin's closure and an admin's
    opening of a library day name the admin; a range over 31 days or only a weekend is
    refused."""
    ctx = actx.store
    await closures.add(ctx, date(2026, 6, 26), date(2026, 6, 26), "临时休市", by="telegram:1")
    await closures.remove(ctx, date(2026, 6, 19), date(2026, 6, 19), by="cli")
    rows = await closures.listing(ctx, date(2026, 6, 1), date(2026, 6, 30))
    assert [(r["day"], r["closed"], r["name"], r["source"], r["by"]) for r in rows] == [
        ("2026-06-19", False, "", "admin", "cli"),
        ("2026-06-26", True, "临时休市", "admin", "telegram:1"),
    ]
    may = await closures.listing(ctx, date(2026, 5, 1), date(2026, 5, 1))
    assert may == [
        {
            "day": "2026-05-01",
            "weekday": "周五",
            "closed": True,
            "name": "劳动节",
            "source": trading.LIBRARY,
            "estimated": False,
            "by": "",
        }
    ]
    with pytest.raises(ValueError, match="31"):
        await closures.add(ctx, date(2026, 7, 1), date(2026, 8, 15), "x", by="t")
    with pytest.raises(ValueError, match="周末"):
        await closures.add(ctx, date(2026, 7, 4), date(2026, 7, 5), "x", by="t")


async def test_week_ahead_lists_confirmed_events_of_the_next_seven_days(
    actx: AdminContext,
) -> None:
    """/calendar: confirmed events in the next 7 days by start, ⭐ for importance 3; proposals
    and later events are left out; the reader's reminder setting is shown."""
    await propose_seed(actx)  # proposals only: not listed
    await events.sync_market_closures(actx.store, date(2026, 2, 1))
    await events.add(actx.store, date(2026, 2, 13), time(21, 30), "美国CPI", importance=3)
    await events.add(actx.store, date(2026, 2, 27), None, "月底事件")
    alice = await reader(actx, "alice", reminders=False)
    text = await events.week_ahead(actx.store, alice, now=bj(2, 12, 20))
    lines = text.splitlines()
    assert lines[0].startswith("📅 未来 7 天")
    assert "2月13日 周五 21:30  ⭐ 美国CPI" in lines
    assert "2月13日 周五  春节前最后一个交易日（2月24日开市）" in lines
    assert any(line.startswith("2月16日") and line.endswith("A股春节休市") for line in lines)
    assert "月底事件" not in text and "春节休市" not in text.replace("A股春节休市", "")
    assert text.endswith("提醒：关（/remind on|off）")
    empty = await events.week_ahead(actx.store, alice, now=bj(6, 1))
    assert empty == "未来 7 天没有已确认的事件。"


async def test_a_gated_posts_events_are_shown_to_current_members_only(
    actx: AdminContext,
) -> None:
    """/calendar: the members' seed post's CPI and 春节休市 reach a reader holding a current
    grant, not one who never unlocked nor one whose grant has lapsed; the exchange's closures
    and the admin's events reach all; the admin's /events lists everything."""
    _, found = await propose_seed(actx)
    for event in found.proposed:
        await events.decide(actx.store, event.id or 0, confirm=True)
    await events.sync_market_closures(actx.store, date(2026, 2, 1))
    await events.add(actx.store, date(2026, 2, 14), time(10, 0), "管理员的事件")
    member, outsider = await reader(actx, "member"), await reader(actx, "outsider")
    await passwords.unlock(actx.store, member, "ld2602")

    shown = await events.week_ahead(actx.store, member, now=bj(2, 12, 20))
    hidden = await events.week_ahead(actx.store, outsider, now=bj(2, 12, 20))
    assert "美国CPI" in shown and "管理员的事件" in shown and "A股春节休市" in shown
    assert "美国CPI" not in hidden
    assert "管理员的事件" in hidden and "A股春节休市" in hidden
    gated_titles = {"美国CPI", "春节休市"}
    for who, now, sees in (
        (member, bj(2, 12, 20), True),
        (outsider, bj(2, 12, 20), False),
        (member, bj(3, 2), False),
    ):
        listed = await events.listing(
            actx.store, reader=who, statuses=("confirmed", "cancelled"), now=now
        )
        titles = {e.title for e in listed}
        assert titles & gated_titles == (gated_titles if sees else set())
        assert "A股春节休市" in titles and "管理员的事件" in titles
    admin_list = await commands.list_events(actx.store, now=bj(2, 12, 20))
    assert "美国CPI" in admin_list.text and "春节休市" in admin_list.text


# ---- reminders ------------------------------------------------------------------------------


async def test_reminders_eve_and_thirty_minutes_for_opted_in_readers_once(
    actx: AdminContext,
) -> None:
    """The eve reminder at 20:00 the day before reaches readers with reminders on, once; the
    30-minute one follows for importance 3 only."""
    cpi = await events.add(actx.store, date(2026, 2, 13), time(21, 30), "美国CPI", importance=3)
    retail = await events.add(actx.store, date(2026, 2, 13), time(21, 30), "美国零售销售")
    on = await reader(actx, "on")
    off = await reader(actx, "off", reminders=False)
    assert not off.reminders

    assert await queue(actx, bj(2, 12, 19, 59)) == 0  # not yet due
    assert await queue(actx, bj(2, 12, 20, 0, 30)) == 2
    rows = await deliveries(actx, "reminder")
    assert {r.ref for r in rows} == {f"{cpi.id}:eve", f"{retail.id}:eve"}
    assert {r.subscriber_id for r in rows} == {on.id}
    channel = ConsoleChannel()
    counts = await send_queued(actx.store, registry(), {"console": channel})
    assert (counts.sent, counts.skipped, counts.failed) == (2, 0, 0)
    assert set(channel.inbox) == {"on"}
    eve = next(text for text in channel.inbox["on"] if "美国CPI" in text)
    assert "明天" in eve and "2月13日 周五 21:30" in eve

    assert await queue(actx, bj(2, 12, 20, 0, 30)) == 0
    assert await queue(actx, bj(2, 13, 21)) == 1
    assert [r.ref for r in await deliveries(actx, "reminder")][-1] == f"{cpi.id}:30m"
    await send_queued(actx.store, registry(), {"console": channel})
    assert "30 分钟后：美国CPI" in channel.inbox["on"][-1]
    assert await queue(actx, bj(2, 13, 21, 10)) == 0
    refs = {r.ref for r in await deliveries(actx, "reminder")}
    assert f"{retail.id}:30m" not in refs and len(refs) == 3


async def test_downtime_catch_up_within_grace_only(actx: AdminContext) -> None:
    """After downtime a reminder due 90 minutes ago (within the 2-hour grace) is queued once;
    one due 3 hours ago is skipped for good."""
    stale = await events.add(actx.store, date(2026, 2, 13), time(10, 0), "国内PMI")
    late = await events.add(actx.store, date(2026, 2, 14), time(10, 0), "某公司财报")
    await reader(actx, "on")
    assert await queue(actx, bj(2, 12, 23)) == 0  # stale:eve fell due 20:00, 3 hours ago
    assert await queue(actx, bj(2, 13, 21, 30)) == 1  # late:eve fell due 20:00, 90 min ago
    assert await queue(actx, bj(2, 13, 21, 31)) == 0
    rows = await deliveries(actx, "reminder")
    assert [r.ref for r in rows] == [f"{late.id}:eve"]
    assert f"{stale.id}:eve" not in {r.ref for r in rows}
    channel = ConsoleChannel()
    assert (await send_queued(actx.store, registry(), {"console": channel})).sent == 1
    assert "明天：某公司财报" in channel.inbox["on"][0]


async def test_no_catch_up_reminder_once_the_event_has_started(actx: AdminContext) -> None:
    """A 30-minute reminder caught up after its event began (due 90 min ago, within grace)
    is not sent: it would announce "30 分钟后" for an event already over."""
    await events.add(actx.store, date(2026, 2, 13), time(21, 30), "美国CPI", importance=3)
    await reader(actx, "on")
    assert await queue(actx, bj(2, 13, 22, 30)) == 0


async def test_reminders_of_a_members_post_event_reach_current_members_only(
    actx: AdminContext,
) -> None:
    """The seed (a members' post) proposes CPI; once confirmed, its reminder goes to readers
    holding a grant at reminder time, not to the others."""
    _, found = await propose_seed(actx)
    cpi = next(e for e in found.proposed if e.title == "美国CPI")
    member, outsider = await reader(actx, "member"), await reader(actx, "outsider")
    await passwords.unlock(actx.store, member, "ld2602")
    assert await queue(actx, bj(2, 12, 20, 1)) == 0  # still a proposal
    await events.decide(actx.store, cpi.id or 0, confirm=True)
    assert await queue(actx, bj(2, 12, 20, 2)) == 1
    rows = await deliveries(actx, "reminder")
    assert [(r.ref, r.subscriber_id) for r in rows] == [(f"{cpi.id}:eve", member.id)]
    assert outsider.id != member.id


async def test_cancelled_events_get_no_reminders(actx: AdminContext) -> None:
    """A cancelled event is never queued, and rows queued before the cancel are skipped at
    send time."""
    kept = await events.add(actx.store, date(2026, 2, 13), time(21, 30), "美国CPI", importance=3)
    await reader(actx, "on")
    assert await queue(actx, bj(2, 12, 20, 1)) == 1
    await events.decide(actx.store, kept.id or 0, confirm=False)
    channel = ConsoleChannel()
    counts = await send_queued(actx.store, registry(), {"console": channel})
    assert (counts.sent, counts.skipped) == (0, 1) and not channel.inbox
    assert [r.status for r in await deliveries(actx, "reminder")] == ["skipped"]

    dropped = await events.add(actx.store, date(2026, 2, 16), None, "另一个事件")
    await events.decide(actx.store, dropped.id or 0, confirm=False)
    assert await queue(actx, bj(2, 13, 21)) == 0  # kept's 30m and dropped's eve: cancelled
    assert len(await deliveries(actx, "reminder")) == 1


# ---- editions -------------------------------------------------------------------------------


async def publication_ids(actx: AdminContext) -> list[int]:
    async with actx.store.sessions() as session:
        rows = await session.exec(select(Publication.id).order_by(col(Publication.id)))
        return [i for i in rows.all() if i is not None]


# ---- the JSON contract and the feed token ---------------------------------------------------


async def test_event_json_dates_and_slug(actx: AdminContext) -> None:
    """Timed events give an ISO time at +08:00, all-day ones a plain date; the slug passes
    through."""
    timed = await events.add(actx.store, date(2026, 2, 13), time(21, 30), "美国CPI", importance=3)
    await events.sync_market_closures(actx.store, date(2026, 2, 1))
    closed = next(e for e in await all_events(actx) if e.uid.startswith("xshg-closed"))
    shown = events.event_json(await get_event(actx, timed.id), SHANGHAI, "some-post")
    assert shown["starts_at"] == "2026-02-13T21:30:00+08:00"
    assert (shown["all_day"], shown["post_slug"], shown["end_day"]) == (False, "some-post", None)
    assert (shown["title"], shown["importance"], shown["status"]) == ("美国CPI", 3, "confirmed")
    day = events.event_json(closed, SHANGHAI, None)
    assert (day["starts_at"], day["end_day"], day["all_day"]) == ("2026-02-16", "2026-02-23", True)
    assert day["post_slug"] is None and day["uid"] == closed.uid

    _, found = await propose_seed(actx, {"title": "美联储议息", "when": "近期"})
    undated = next(e for e in found.proposed if e.starts_at is None)
    assert events.event_json(undated, SHANGHAI, SEED)["starts_at"] is None
    assert events.event_json(undated, SHANGHAI, SEED)["post_slug"] == SEED


async def test_calendar_token_is_stable_until_reset(actx: AdminContext) -> None:
    """The feed token stays the same until reset; reset revokes the old one; a stopped
    subscriber's feed is closed."""
    alice = await reader(actx, "alice")
    token = await events.calendar_token(actx.store, alice)
    assert token and await events.calendar_token(actx.store, alice) == token
    found = await events.by_token(actx.store, token)
    assert found is not None and found.id == alice.id
    fresh = await events.calendar_token(actx.store, alice, reset=True)
    assert fresh != token
    assert await events.by_token(actx.store, token) is None
    again = await events.by_token(actx.store, fresh)
    assert again is not None and again.id == alice.id
    assert await events.calendar_token(actx.store, alice) == fresh
    await account.update_settings(actx.store, alice, status="stopped")
    assert await events.by_token(actx.store, fresh) is None
