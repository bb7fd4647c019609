"""The calendar through every outlet, on SQLite and PostgreSQL: the Telegram commands and buttons
(the real Application against the fake Bot API), the subscriber's .ics feed on the web app, the
`digestbot events` / `calendar export` commands, and the reminder and edition jobs with frozen
clocks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import time_machine
from icalendar import Calendar
from sqlmodel import col, func, select, update
from starlette.testclient import TestClient
from typer.testing import CliRunner

from bot.app import build_app
from bot.cli import app as cli_app
from bot.container import Services, open_services
from bot.scheduler import closures_job, edition_job, last_fire_time, reminder_job
from digests.calendar import closures, events
from digests.calendar.commands import ADD_USAGE
from digests.commands import ChatChannel, spell
from digests.days import trading
from digests.ingest.core import ingest
from digests.models import (
    AccessGrant,
    CalendarEvent,
    Delivery,
    Edition,
    Post,
    Publication,
    Subscriber,
    utcnow,
)
from digests.publishing import publish
from digests.readers import account
from digests.replies import Reply
from digests.settings import Settings
from tests.conftest import EXAMPLES, SHANGHAI
from tests.fake_telegram import FakeTelegram, running_bot
from tests.test_telegram import said, subscribe, until

ADMIN, ALICE, BOB = 1000, 2001, 2002
SEED = "2-10-zhui-zong"  # published 2026-02-12 13:27 Beijing; its digest: 非农周三, CPI周五, 休市
BASE = "https://bot.example.com"
JSON_KEYS = {"id", "uid", "title", "starts_at", "all_day", "importance", "status", "post_slug"}


NOW = datetime(2026, 11, 29, 10, 0, tzinfo=SHANGHAI)  # every test here runs at this moment
AHEAD = NOW.date() + timedelta(days=40)  # a future day


@pytest.fixture(autouse=True)
def _fixed_clock() -> Iterator[None]:
    """The bot, the jobs and the CLI read the wall clock (/events lists from now on): it
    starts at NOW, so no outcome depends on the day the tests run."""
    with time_machine.travel(NOW, tick=True):
        yield


def bj(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A frozen moment, Beijing time."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def settings_for(database_url: str, **overrides: object) -> Settings:
    return Settings(_env_file=None, database_url=database_url, **overrides)  # type: ignore[call-arg, arg-type]


async def stored_subscriber(services: Services, user: int) -> Subscriber:
    async with services.store_context().sessions() as session:
        found = await account.get_subscriber(session, channel="telegram", external_id=str(user))
    assert found is not None
    return found


async def all_events(services: Services) -> list[CalendarEvent]:
    async with services.store_context().sessions() as session:
        return list(
            (await session.exec(select(CalendarEvent).order_by(col(CalendarEvent.id)))).all()
        )


async def get_event(services: Services, event_id: int) -> CalendarEvent:
    async with services.store_context().sessions() as session:
        found = await session.get(CalendarEvent, event_id)
    assert found is not None
    return found


def last(fake: FakeTelegram, chat: int) -> str:
    return fake.inbox[chat][-1]


# ---- Telegram -------------------------------------------------------------------------------


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[tuple[FakeTelegram, Services]]:
    """Samples ingested, the bot polling the fake server; PUBLIC_BASE_URL set."""
    async with running_bot(database_url, ADMIN, public_base_url=BASE + "/") as bot:
        yield bot


async def test_remind_off_on_and_the_feed_url_until_reset(
    running: tuple[FakeTelegram, Services],
) -> None:
    """/remind off|on is stored; /calendar shows the week and the reader's own .ics URL;
    /calendar_reset replaces the token."""
    fake, services = running
    await subscribe(fake, ALICE)
    fake.user_says(ALICE, "/remind off")
    await until(said(fake, ALICE, "关闭"))
    assert (await stored_subscriber(services, ALICE)).reminders is False
    fake.user_says(ALICE, "/remind on")
    await until(said(fake, ALICE, "已开启事件提醒"))
    assert (await stored_subscriber(services, ALICE)).reminders is True

    fake.user_says(ALICE, "/calendar")
    await until(said(fake, ALICE, "未来 7 天"))
    token = (await stored_subscriber(services, ALICE)).calendar_token
    assert token
    url = last(fake, ALICE).split()[-1].rsplit("：", 1)[-1]
    assert url == f"{BASE}/calendar/{token}.ics"

    fake.user_says(ALICE, "/calendar_reset")
    await until(said(fake, ALICE, "旧地址失效"))
    new = (await stored_subscriber(services, ALICE)).calendar_token
    assert new and new != token
    assert last(fake, ALICE).endswith(f"/calendar/{new}.ics") and token not in last(fake, ALICE)


async def test_admin_adds_lists_and_cancels_an_event(
    running: tuple[FakeTelegram, Services],
) -> None:
    """/event_add with a time stores a confirmed event at that Beijing time; bad input gets the
    usage; /events lists it; /event_cancel cancels it."""
    fake, services = running
    fake.user_says(ADMIN, f"/event_add {AHEAD} 21:30 美国CPI 3")
    await until(said(fake, ADMIN, "已添加"))
    [event] = await all_events(services)
    assert (event.title, event.status, event.importance) == ("美国CPI", "confirmed", 3)
    assert event.starts_at == bj(AHEAD.year, AHEAD.month, AHEAD.day, 21, 30) and not event.all_day
    assert event.starts_at.astimezone(SHANGHAI).isoformat() == f"{AHEAD}T21:30:00+08:00"

    fake.user_says(ADMIN, "/event_add 明天 美国CPI")
    await until(lambda: len(fake.inbox[ADMIN]) == 2)
    assert last(fake, ADMIN) == spell(ADD_USAGE, ChatChannel.TELEGRAM)

    fake.user_says(ADMIN, "/events")
    await until(said(fake, ADMIN, f"#{event.id} [已确认]"))
    assert "美国CPI" in last(fake, ADMIN)

    fake.user_says(ADMIN, f"/event_cancel {event.id}")
    await until(said(fake, ADMIN, f"已取消 #{event.id}"))
    assert (await get_event(services, event.id or 0)).status == "cancelled"
    assert len(await all_events(services)) == 1


async def test_non_admin_event_add_is_refused(running: tuple[FakeTelegram, Services]) -> None:
    """A subscriber's /event_add is stopped by the gate and stores nothing."""
    fake, services = running
    fake.user_says(BOB, f"/event_add {AHEAD} 21:30 美国CPI 3")
    await until(said(fake, BOB, "此命令仅限管理员"))  # the gate's answer: the update stopped there
    assert await all_events(services) == []
    assert not said(fake, BOB, "已添加")()


async def test_admin_corrects_the_exchange_calendar(
    running: tuple[FakeTelegram, Services],
) -> None:
    """/closure_add closes weekdays (a year's arrangement the library lacks), /closures lists
    them, /closure_remove opens them again; a reader's /closure_add is refused."""
    fake, services = running
    year = trading.library().ends.year
    fake.user_says(ADMIN, f"/closure_add {year}-10-06 {year}-10-07 国庆节")
    await until(said(fake, ADMIN, "已记为休市（国庆节）"))
    market = await closures.load(services.store_context())
    assert not market.is_session(date(year, 10, 7)) and not market.estimated(date(year, 1, 1))
    fake.user_says(ADMIN, "/closures")
    await until(said(fake, ADMIN, "A股休市"))
    assert f"国庆节 {year}-10-01 至 {year}-10-07" in last(fake, ADMIN)
    fake.user_says(ADMIN, f"/closure_remove {year}-10-07")
    await until(said(fake, ADMIN, "已改为交易日"))
    assert (await closures.load(services.store_context())).is_session(date(year, 10, 7))
    fake.user_says(ADMIN, f"/closure_add {year}-10-09 {year}-10-01 国庆节")
    await until(said(fake, ADMIN, "早于起始日"))
    fake.user_says(BOB, f"/closure_add {year}-10-08 国庆节")
    await until(said(fake, BOB, "此命令仅限管理员"))
    assert (await closures.load(services.store_context())).is_session(date(year, 10, 8))


async def test_publishing_proposes_events_and_the_button_confirms(
    running: tuple[FakeTelegram, Services],
) -> None:
    """Publishing the seed shows its future events with 确认 / 忽略 buttons; 确认 confirms
    the event, 忽略 cancels one, and a subscriber's press of 确认 changes nothing."""
    fake, services = running
    fake.user_says(ADMIN, f"/publish {SEED}")
    await until(said(fake, ADMIN, "摘要中的事件"))
    assert said(fake, ADMIN, "已发布")()
    proposed = await all_events(services)
    assert proposed and {e.status for e in proposed} == {"proposed"}
    cpi = next(e for e in proposed if "CPI" in e.title)
    assert cpi.starts_at == bj(2026, 2, 13, 21, 30)
    buttons = dict(fake.buttons(ADMIN))
    assert buttons[f"确认 #{cpi.id}"] == f"evok:{cpi.id}"
    assert buttons[f"忽略 #{cpi.id}"] == f"evno:{cpi.id}"

    fake.user_presses(BOB, f"evok:{cpi.id}")
    refused = ("answerCallbackQuery", "仅限管理员。")  # the gate's answer: the update stops there
    await until(lambda: refused in ((m, p.get("text")) for m, p in fake.calls))
    assert (await get_event(services, cpi.id or 0)).status == "proposed"

    fake.user_presses(ADMIN, f"evok:{cpi.id}")
    await until(said(fake, ADMIN, f"已确认 #{cpi.id}"))
    confirmed = await get_event(services, cpi.id or 0)
    assert confirmed.status == "confirmed" and confirmed.sequence == 1
    other = next(e for e in proposed if e.id != cpi.id)
    fake.user_presses(ADMIN, f"evno:{other.id}")
    await until(said(fake, ADMIN, f"已取消 #{other.id}"))
    assert (await get_event(services, other.id or 0)).status == "cancelled"


# ---- the web feed ---------------------------------------------------------------------------


def test_calendar_feed_serves_the_token_holder_until_reset(database_url: str) -> None:
    """/calendar/{token}.ics: an iCalendar with confirmed and cancelled events for the holder;
    404 for an unknown token and for the old token after a reset."""
    web = build_app(settings_for(database_url))

    async def setup() -> tuple[str, Subscriber, str, str]:
        ctx = web.state.services.store_context()
        reader, _ = await account.register(ctx, channel="console", external_id="alice")
        token = await events.calendar_token(ctx, reader)
        kept = await events.add(ctx, AHEAD, time(21, 30), "美国CPI", 3)
        dropped = await events.add(ctx, date(2026, 12, 29), None, "取消的会议")
        await events.decide(ctx, dropped.id or 0, confirm=False)
        return token, reader, kept.uid, dropped.uid

    async def reset(reader: Subscriber) -> str:
        return await events.calendar_token(web.state.services.store_context(), reader, reset=True)

    with TestClient(web) as client:
        token, reader, kept, dropped = client.portal.call(setup)  # type: ignore[union-attr]
        answer = client.get(f"/calendar/{token}.ics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/calendar")
        feed = Calendar.from_ical(answer.content)
        status = {str(c["UID"]): str(c["STATUS"]) for c in feed.walk("VEVENT")}
        assert status[kept] == "CONFIRMED" and status[dropped] == "CANCELLED"
        assert b"STATUS:CANCELLED" in answer.content
        assert client.get("/calendar/not-a-token.ics").status_code == 404
        new = client.portal.call(reset, reader)  # type: ignore[union-attr]
        assert client.get(f"/calendar/{token}.ics").status_code == 404
        assert client.get(f"/calendar/{new}.ics").status_code == 200


def test_calendar_feed_shows_a_gated_posts_events_to_current_members_only(
    database_url: str,
) -> None:
    """/calendar/{token}.ics: an event from a members' post is in the feed of a reader holding
    a grant that covers now, not in that of a reader without one; public events in both."""
    web = build_app(settings_for(database_url))

    async def setup() -> tuple[str, str, str, str]:
        ctx = web.state.services.store_context()
        member, _ = await account.register(ctx, channel="console", external_id="member")
        outsider, _ = await account.register(ctx, channel="console", external_id="outsider")
        now = utcnow()
        async with ctx.sessions() as session, session.begin():
            post = Post(
                slug="members-only",
                source="admin",
                title="会员文章",
                published_at=now,
                body_markdown="x",
                body_text="x",
                gated=True,
                content_hash="0" * 64,
            )
            session.add(post)
            session.add(
                AccessGrant(
                    subscriber_id=member.id or 0,
                    label="now",
                    starts_at=now - timedelta(days=1),
                    ends_at=now + timedelta(days=1),
                )
            )
            await session.flush()
            gated = CalendarEvent(
                uid="gated@test",
                title="会员事件",
                post_id=post.id,
                status="confirmed",
                starts_at=datetime.combine(AHEAD, time(21, 30), tzinfo=SHANGHAI),
            )
            session.add(gated)
        public = await events.add(ctx, AHEAD, time(9, 30), "公开事件")
        tokens = [await events.calendar_token(ctx, who) for who in (member, outsider)]
        # the exchange's closures are added by the leader once it leads (catch_up), a moment
        # after the start: the feeds are read once they are there
        closures_in = select(func.count()).where(col(CalendarEvent.uid).startswith("xshg-"))
        for _ in range(1000):
            async with ctx.sessions() as session:
                if (await session.exec(closures_in)).one():
                    break
            await asyncio.sleep(0.02)
        return tokens[0], tokens[1], gated.uid, public.uid

    with TestClient(web) as client:
        member, outsider, gated, public = client.portal.call(setup)  # type: ignore[union-attr]
        uids = {}
        for name, token in (("member", member), ("outsider", outsider)):
            feed = Calendar.from_ical(client.get(f"/calendar/{token}.ics").content)
            uids[name] = {str(c["UID"]) for c in feed.walk("VEVENT")}
        closed = {uid for uid in uids["outsider"] if uid.startswith("xshg-")}  # public
        assert closed  # 元旦 2027 is within 60 days of NOW
        assert uids["member"] == {gated, public, *closed}
        assert uids["outsider"] == {public, *closed}


# ---- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A runner on a fresh database (no `.env`) holding a timed and an all-day admin event."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TIMEZONE", "Asia/Shanghai")

    async def setup() -> None:
        async with open_services(settings_for(database_url)) as services:
            ctx = services.store_context()
            await events.add(ctx, AHEAD, time(21, 30), "美国CPI", 3)
            await events.add(ctx, AHEAD + timedelta(days=1), None, "年末结算")

    asyncio.run(setup())
    return CliRunner()


def test_events_json_contract_with_closures(cli: CliRunner) -> None:
    """`events --json`: the contract keys, +08:00 for timed, a date for all-day, and the
    exchange's closures of the next 60 days as confirmed holiday events."""
    result = cli.invoke(cli_app, ["events", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert all(set(row) >= JSON_KEYS for row in rows)
    by_title = {row["title"]: row for row in rows}
    timed, all_day = by_title["美国CPI"], by_title["年末结算"]
    assert (timed["starts_at"], timed["all_day"]) == (f"{AHEAD}T21:30:00+08:00", False)
    assert (all_day["starts_at"], all_day["all_day"]) == (f"{AHEAD + timedelta(days=1)}", True)
    assert (timed["importance"], timed["status"], timed["post_slug"]) == (3, "confirmed", None)
    assert timed["uid"].startswith("admin-") and isinstance(timed["id"], int)
    today = utcnow().astimezone(SHANGHAI).date()
    market = trading.library()
    end = min(today + timedelta(days=60), market.ends)
    expected = 2 * len(market.closures(today, end)) if today <= end else 0
    closures = [row for row in rows if row["uid"].startswith("xshg-")]
    assert len(closures) == expected  # may be 0 once today is past the calendar's data
    assert all(
        (r["status"], r["kind"], r["all_day"]) == ("confirmed", "holiday", True) for r in closures
    )


def test_calendar_export_is_stable(cli: CliRunner, tmp_path: Path) -> None:
    """`calendar export --out` twice: both parse, the same UIDs, a VTIMEZONE."""
    first, second = tmp_path / "a.ics", tmp_path / "b.ics"
    for out in (first, second):
        result = cli.invoke(cli_app, ["calendar", "export", "--out", str(out)])
        assert result.exit_code == 0 and f"wrote {out}" in result.output, result.output
    parsed = [Calendar.from_ical(path.read_bytes()) for path in (first, second)]
    uids = [sorted(str(e["UID"]) for e in cal.walk("VEVENT")) for cal in parsed]
    assert uids[0] == uids[1] and len(uids[0]) >= 2
    assert all(cal.walk("VTIMEZONE") for cal in parsed)


# ---- the scheduler's jobs -------------------------------------------------------------------


def test_last_fire_time_reads_crontab_weekdays() -> None:
    """`1-5` is Monday to Friday: on Saturday noon the last 08:30 fire was Friday's."""
    found = last_fire_time("30 8 * * 1-5", SHANGHAI, bj(2026, 2, 14, 12))
    assert found == bj(2026, 2, 13, 8, 30) and found is not None and found.weekday() == 4


@pytest.mark.parametrize(
    ("weekdays", "expected"),
    [("0-4", bj(2026, 2, 12, 8, 30)), ("*/2", bj(2026, 2, 14, 8, 30))],
)
def test_last_fire_time_reads_sunday_ranges_and_steps(weekdays: str, expected: datetime) -> None:
    """Crontab `0-4` is Sunday to Thursday and `*/2` is Sun, Tue, Thu, Sat."""
    assert last_fire_time(f"30 8 * * {weekdays}", SHANGHAI, bj(2026, 2, 14, 12)) == expected


async def test_edition_job_trading_days_catch_up_and_once(database_url: str) -> None:
    """No edition on a closed day (Spring Festival) or 13 h late; the first session after
    makes it for the edition reader, once however often the job runs."""
    async with open_services(settings_for(database_url)) as services:
        actx = services.admin_context()
        [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
        reader, _ = await account.register(actx.store, channel="console", external_id="ed")
        await account.update_settings(actx.store, reader, delivery="edition")
        await publish.publish_post(actx, SEED, by="test")
        async with actx.store.sessions() as session, session.begin():
            # the clock is frozen for the job only: date the publication before the holiday
            await session.exec(update(Publication).values(published_at=bj(2026, 2, 13, 10)))  # type: ignore[call-overload]

        async def editions() -> int:
            async with actx.store.sessions() as session:
                return (await session.exec(select(func.count()).select_from(Edition))).one()

        assert await edition_job(services, now=bj(2026, 2, 16, 9)) == 0  # 春节休市
        assert await edition_job(services, now=bj(2026, 2, 24, 8, 30) + timedelta(hours=13)) == 0
        assert await editions() == 0
        assert await edition_job(services, now=bj(2026, 2, 24, 9)) == 1
        assert await edition_job(services, now=bj(2026, 2, 24, 9)) == 0
        assert await edition_job(services, now=bj(2026, 2, 24, 10)) == 0
        assert await editions() == 1
        async with actx.store.sessions() as session:
            rows = await session.exec(select(Delivery).where(Delivery.kind == "edition"))
            assert [d.subscriber_id for d in rows.all()] == [reader.id]


async def test_closure_sync_past_the_exchange_data_adds_nothing(database_url: str) -> None:
    """Past the calendar's data there are no known closures: 0 added, no error."""
    async with open_services(settings_for(database_url)) as services:
        later = trading.library().ends + timedelta(days=5)
        assert await events.sync_market_closures(services.store_context(), later) == 0


async def test_closures_job_warns_the_admins_once_of_an_unannounced_year(
    database_url: str,
) -> None:
    """60 days before a year whose holiday arrangement is unknown, the closures job tells the
    admins once (with the estimate and /closure_add), however often it runs; none before."""
    year = trading.library().ends.year  # the estimated year of the installed release
    told: list[Reply] = []

    async def notify(reply: Reply) -> None:
        told.append(reply)

    async with open_services(settings_for(database_url)) as services:
        await closures_job(services, notify, today=date(year - 1, 9, 1))
        assert told == []
        await closures_job(services, notify, today=date(year - 1, 11, 29))
        await closures_job(services, notify, today=date(year - 1, 11, 30))
    [warning] = told
    assert f"{year} 年的休市安排还不知道" in warning.text
    assert "/closure_add 起始日" in spell(warning.text, ChatChannel.TELEGRAM)
    assert "添加休市 起始日" in spell(warning.text, ChatChannel.WECHAT)  # each admin's words
    assert f"元旦 {year}-01-01" in warning.text and "（预估）" in warning.text


def test_calendar_closures_cli_lists_sources_and_changes(cli: CliRunner) -> None:
    """`calendar closures --json` lists each closed weekday with its source; closure-add and
    closure-remove change what is in force; a bad range exits 2 with a sentence."""
    year = trading.library().ends.year
    span = ["--from", f"{year}-10-01", "--until", f"{year}-10-08"]
    before = json.loads(cli.invoke(cli_app, ["calendar", "closures", "--json", *span]).output)
    assert before and all(
        row["estimated"] and row["source"].startswith("holidays ") for row in before
    )
    assert set(before[0]) == {"day", "weekday", "closed", "name", "source", "estimated", "by"}
    added = cli.invoke(
        cli_app, ["calendar", "closure-add", f"{year}-10-06", f"{year}-10-08", "国庆节"]
    )
    assert added.exit_code == 0 and "已记为休市" in added.output, added.output
    after = json.loads(cli.invoke(cli_app, ["calendar", "closures", "--json", *span]).output)
    admin_rows = [row for row in after if row["source"] == "admin"]
    assert [row["day"][5:] for row in admin_rows] == ["10-06", "10-07", "10-08"]
    assert all(row["by"] == "cli" for row in admin_rows)
    assert not any(row["estimated"] for row in after)  # the year counts as announced now
    removed = cli.invoke(cli_app, ["calendar", "closure-remove", f"{year}-10-08"])
    assert removed.exit_code == 0 and "已改为交易日" in removed.output, removed.output
    bad = cli.invoke(cli_app, ["calendar", "closure-add", f"{year}-10-09", f"{year}-10-01", "x"])
    assert bad.exit_code == 2 and "早于起始日" in bad.output


async def test_reminder_job_uses_the_configured_leads_and_grace(database_url: str) -> None:
    """REMINDER_LEAD_TIMES=eve and REMINDER_GRACE_MINUTES=30: the eve reminder is queued 10
    minutes late, not 40 minutes late, and no 30-minutes-before reminder is made."""
    settings = settings_for(database_url, reminder_lead_times="eve", reminder_grace_minutes=30)
    async with open_services(settings) as services:
        ctx = services.store_context()
        await account.register(ctx, channel="console", external_id="alice")
        await events.add(ctx, date(2026, 2, 13), time(21, 30), "美国CPI", 3)
        await events.add(ctx, date(2026, 2, 14), time(10, 0), "周末会议", 3)
        assert await reminder_job(services, now=bj(2026, 2, 12, 20, 10)) == 1
        assert await reminder_job(services, now=bj(2026, 2, 12, 20, 15)) == 0  # once
        assert await reminder_job(services, now=bj(2026, 2, 13, 20, 40)) == 0  # 40 min late
        assert await reminder_job(services, now=bj(2026, 2, 13, 21, 5)) == 0  # no 30m lead
        async with ctx.sessions() as session:
            rows = await session.exec(select(Delivery.ref).where(Delivery.kind == "reminder"))
            assert [ref.split(":")[1] for ref in rows.all()] == ["eve"]
