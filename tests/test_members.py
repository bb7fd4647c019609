"""Subscribers and admins through the channel-agnostic use cases (console channel), on SQLite
and PostgreSQL: unlock, lockout, publish to the entitled only, once; gone subscribers."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta

from sqlalchemy import insert
from sqlmodel import col, select

from bot.console import ConsoleChannel, handle
from digests import admin, db, members
from digests.admin import AdminContext
from digests.delivery import publication_progress
from digests.dispatch import send_queued
from digests.expiry import queue_expiry_notices
from digests.members import MemberContext, Reply
from digests.models import Delivery, Subscriber, utcnow
from digests.outbox import Reader, SendResult
from tests.conftest import SHANGHAI, subscriber_rows


async def reader(actx: AdminContext, name: str) -> Subscriber:
    subscriber, _ = await members.register(actx.members, channel="console", external_id=name)
    return subscriber


async def fresh(actx: AdminContext, subscriber: Subscriber) -> Subscriber:
    async with actx.members.sessions() as session:
        found = await session.get(Subscriber, subscriber.id)
    assert found is not None
    return found


async def test_start_wrong_then_right_password_then_latest(actx: AdminContext) -> None:
    """A bare message after /start is the password; the reply asks to delete it."""
    alice = await reader(actx, "alice")
    wrong = await handle(actx, alice, "ld2601", is_admin=False)
    assert "密码不正确" in wrong.text and "还可尝试 4 次" in wrong.text and wrong.delete_incoming
    right = await handle(actx, await fresh(actx, alice), "ld2602", is_admin=False)
    assert "解锁成功" in right.text and "2026-02-01 至 2026-02-28" in right.text
    assert (await handle(actx, alice, "/latest", is_admin=False)).text == "还没有发布的摘要。"
    await admin.publish_post(actx, "2-10-zhui-zong", by="test")
    latest = await handle(actx, alice, "/latest", is_admin=False)
    assert latest.digest is not None and latest.digest.title.startswith("2.10科技大爆发")


async def test_lockout_after_five_failures_even_for_the_right_password(
    actx: AdminContext,
) -> None:
    """Five wrong passwords lock unlocking for 15 minutes with a clear message."""
    bob = await reader(actx, "bob")
    replies = [await members.unlock(actx.members, bob, f"guess{i}") for i in range(5)]
    assert "解锁已暂停 15 分钟" in replies[-1].text
    locked = await members.unlock(actx.members, bob, "ld2602")
    assert "错误次数过多" in locked.text and "分钟后再试" in locked.text
    later = await members.unlock(actx.members, bob, "ld2602", now=utcnow() + timedelta(minutes=16))
    assert "解锁成功" in later.text


async def test_publish_reaches_the_entitled_once_and_not_the_others(actx: AdminContext) -> None:
    """Gated post → only the unlocked reader; public post → both; edition readers wait; a
    second send run sends nothing again."""
    alice, _bob, carol = [await reader(actx, n) for n in ("alice", "bob", "carol")]
    await members.unlock(actx.members, alice, "ld2602")
    await members.update_settings(actx.members, carol, delivery="edition")
    await members.unlock(actx.members, carol, "ld2602")
    gated = await admin.publish_post(actx, "2-10-zhui-zong", by="test")
    assert "即时推送 1 人" in gated.text
    await admin.publish_post(actx, "2026-02-20-public-new-year", by="test")
    channel = ConsoleChannel()
    counts = await send_queued(actx.members, {"console": channel})
    assert (counts.sent, counts.failed) == (3, 0)
    assert len(channel.inbox["alice"]) == 2 and len(channel.inbox["bob"]) == 1
    assert "carol" not in channel.inbox
    assert "2.10科技大爆发" not in channel.inbox["bob"][0]
    again = await send_queued(actx.members, {"console": channel})
    assert again.sent == 0 and len(channel.inbox["alice"]) == 2


async def test_entitlement_is_checked_again_at_send_time(actx: AdminContext) -> None:
    """A reader who unsubscribes after the publish is queued gets nothing."""
    alice = await reader(actx, "alice")
    await members.unlock(actx.members, alice, "ld2602")
    await admin.publish_post(actx, "2-10-zhui-zong", by="test")
    await members.update_settings(actx.members, alice, status="stopped")
    channel = ConsoleChannel()
    counts = await send_queued(actx.members, {"console": channel})
    assert (counts.sent, counts.skipped) == (0, 1) and not channel.inbox


async def test_a_blocked_reader_is_marked_gone_and_gets_nothing_more(actx: AdminContext) -> None:
    """A channel answering 'gone' (Telegram 403) marks the subscriber gone for good."""

    class Blocking(ConsoleChannel):
        async def send(self, subscriber: Reader, reply: Reply) -> SendResult:
            return SendResult("gone", detail="Forbidden: bot was blocked by the user")

    dave = await reader(actx, "dave")
    await admin.publish_post(actx, "2026-02-20-public-new-year", by="test")
    counts = await send_queued(actx.members, {"console": Blocking()})
    assert counts.gone == [dave.id] and (await fresh(actx, dave)).status == "gone"
    await admin.publish_post(actx, "2026-02-20-public-new-year", by="test", again=True)
    channel = ConsoleChannel()
    assert (await send_queued(actx.members, {"console": channel})).sent == 0


async def test_admin_posts_text_previews_and_publishes(actx: AdminContext) -> None:
    """/post TEXT → stored, digested, preview with 发布/重新生成/丢弃; non-admins cannot."""
    alice = await reader(actx, "alice")
    text = "/post 盘后速递\n\n## 通信\n\n- 龙头天孚通信，小弟腾景科技\n\n美国CPI周五公布。"
    preview = await handle(actx, alice, text, is_admin=True)
    actions = [action for _, action in preview.choices]
    assert preview.digest is not None and actions[0].startswith("publish:")
    assert [label for label, _ in preview.choices] == ["发布", "重新生成", "丢弃"]
    slug = actions[0].removeprefix("publish:")
    refused = await handle(actx, alice, f"/publish {slug}", is_admin=False)
    assert "已发布" not in refused.text
    done = await handle(actx, alice, f"/publish {slug}", is_admin=True)
    assert "已发布《盘后速递》" in done.text
    stats = await handle(actx, alice, "/stats", is_admin=True)
    assert "投递" in stats.text and "LLM" in stats.text
    assert "2026-02" in (await handle(actx, alice, "/passwords", is_admin=True)).text


async def test_two_notes_in_the_same_second_stay_two_posts(actx: AdminContext) -> None:
    """Two admin notes sent in the same second get different slugs: each preview's 发布
    publishes its own note, neither overwrites the other."""
    now = datetime(2026, 2, 12, 10, 30, 0, 400_000, tzinfo=SHANGHAI)
    texts = ("早盘速递\n\n通信板块走强，关注天孚通信。", "午盘速递\n\n传媒板块回调，关注中文在线。")
    slugs = []
    for text in texts:
        preview = await admin.post_and_preview(actx, admin.admin_draft(text, ctx=actx, now=now))
        publish = next(action for label, action in preview.choices if label == "发布")
        slugs.append(publish.removeprefix("publish:"))
    assert slugs[0] != slugs[1] and all(s.startswith("note-20260212-103000-") for s in slugs)
    titles = [(await admin.publish_post(actx, slug, by="test")).text for slug in slugs]
    assert "已发布《早盘速递》" in titles[0] and "已发布《午盘速递》" in titles[1]
    same = admin.admin_draft(texts[0], ctx=actx, now=now + timedelta(milliseconds=100))
    assert same.slug == slugs[0]  # the same text in the same second is the same note


async def test_expiry_notices_three_days_one_day_and_ended_once_each(actx: AdminContext) -> None:
    """With a fixed clock: 3-day and 1-day reminders and one 'ended' notice, each once; a
    reader who already holds the next period gets none."""
    alice, bob = [await reader(actx, n) for n in ("alice", "bob")]
    await admin.add_password(actx, "ld2603", date(2026, 3, 1), date(2026, 3, 31), "2026-03")
    for who in (alice, bob):
        await members.unlock(actx.members, who, "ld2602", now=utcnow())
    await members.unlock(actx.members, bob, "ld2603", now=utcnow())

    def at(day: int, hour: int, month: int = 2) -> datetime:
        return datetime(2026, month, day, hour, tzinfo=SHANGHAI)

    queued = [
        await queue_expiry_notices(actx.members, now=moment)
        for moment in (
            at(25, 12),
            at(26, 12),
            at(26, 13),
            at(28, 8),
            at(1, 9, month=3),
            at(2, 9, month=3),
        )
    ]
    assert queued == [0, 1, 0, 1, 1, 0]
    channel = ConsoleChannel()
    await send_queued(actx.members, {"console": channel})
    notices = channel.inbox["alice"]
    assert len(notices) == 3 and "bob" not in channel.inbox
    assert "3 天内结束" in notices[0] and "1 天内结束" in notices[1] and "已结束" in notices[2]


async def test_two_send_loops_side_by_side_send_each_row_once(actx: AdminContext) -> None:
    """A publish's send and the scheduler's tick running together: every row goes out once."""
    for name in ("r1", "r2", "r3", "r4", "r5"):
        await reader(actx, name)
    await admin.publish_post(actx, "2026-02-20-public-new-year", by="test")
    channel = ConsoleChannel()
    first, second = await asyncio.gather(
        send_queued(actx.members, {"console": channel}),
        send_queued(actx.members, {"console": channel}),
    )
    assert first.sent + second.sent == 5
    assert all(len(inbox) == 1 for inbox in channel.inbox.values()) and len(channel.inbox) == 5


async def test_broadcast_is_stored_confirmed_once_and_survives_a_restart(
    actx: AdminContext,
) -> None:
    """The text lives in the store: rows queued before a restart are sent after it; a second
    confirmation queues nothing."""
    await reader(actx, "alice")
    prepared = await admin.prepare_broadcast(actx, "今晚八点直播", by="test")
    broadcast_id = int(prepared.choices[0][1].removeprefix("bcast:"))
    assert "已排队：1 人" in (await admin.confirm_broadcast(actx, broadcast_id)).text
    assert "已经发送过" in (await admin.confirm_broadcast(actx, broadcast_id)).text
    restarted = MemberContext(actx.members.sessions, SHANGHAI)  # nothing kept in memory
    channel = ConsoleChannel()
    assert (await send_queued(restarted, {"console": channel})).sent == 1
    assert channel.inbox["alice"] == ["今晚八点直播"]


async def test_a_crashed_senders_rows_are_sent_after_the_lease_and_sent_rows_never_again(
    actx: AdminContext,
) -> None:
    """A row left `sending` by a killed sender goes out once its lease has run out; a row
    still leased is left alone; a row marked sent is never sent again."""
    for name in ("r1", "r2", "r3"):
        await reader(actx, name)
    await admin.publish_post(actx, "2026-02-20-public-new-year", by="test")
    async with actx.members.sessions() as session, session.begin():
        rows = (await session.exec(select(Delivery).order_by(col(Delivery.id)))).all()
        crashed, leased, done = rows
        crashed.status, crashed.lease_until = "sending", utcnow() - timedelta(seconds=1)
        leased.status, leased.lease_until = "sending", utcnow() + timedelta(minutes=5)
        done.status = "sent"
    channel = ConsoleChannel()
    counts = await send_queued(actx.members, {"console": channel})
    assert counts.sent == 1 and list(channel.inbox) == ["r1"]


async def test_publication_progress_counts_and_rate(actx: AdminContext) -> None:
    """`digestbot deliveries`: per publication counts by status, then nothing left to send."""
    for name in ("r1", "r2"):
        await reader(actx, name)
    await admin.publish_post(actx, "2026-02-20-public-new-year", by="test")
    [before] = await publication_progress(actx.members)
    assert (before["queued"], before["sent"], before["title"]) == (2, 0, "节后第一篇：写给新朋友")
    await send_queued(actx.members, {"console": ConsoleChannel()})
    [after] = await publication_progress(actx.members)
    assert (after["queued"], after["sent"], after["eta_seconds"]) == (0, 2, 0)


async def test_two_senders_with_their_own_pools_deliver_2000_messages_exactly_once(
    actx: AdminContext, database_url: str
) -> None:
    """Like two processes sharing one database: each claims batches (SKIP LOCKED on
    PostgreSQL) and between them every row is sent exactly once."""
    rows = subscriber_rows(2000, channel="console")
    async with actx.members.sessions() as session, session.begin():
        await session.exec(insert(Subscriber), params=rows)
    await admin.publish_post(actx, "2026-02-20-public-new-year", by="test")
    channel = ConsoleChannel()
    async with db.open_engine(database_url) as other:
        second = MemberContext(db.make_sessionmaker(other), SHANGHAI)
        one, two = await asyncio.gather(
            send_queued(actx.members, {"console": channel}, batch=100),
            send_queued(second, {"console": channel}, batch=100),
        )
    assert one.sent + two.sent == 2000 and one.sent > 0 and two.sent > 0
    assert len(channel.inbox) == 2000 and all(len(m) == 1 for m in channel.inbox.values())


async def test_transient_failures_back_off_then_fail_for_good(actx: AdminContext) -> None:
    """A 5xx-like failure requeues the row with a growing backoff (other rows go on); after
    five tries it is `failed`."""

    class Flaky(ConsoleChannel):
        async def send(self, subscriber: Reader, reply: Reply) -> SendResult:
            return SendResult("transient", detail="HTTP 502 Bad Gateway")

    await reader(actx, "alice")
    await admin.publish_post(actx, "2026-02-20-public-new-year", by="test")
    waits = []
    for _ in range(5):
        counts = await send_queued(actx.members, {"console": Flaky()})
        async with actx.members.sessions() as session:
            row = (await session.exec(select(Delivery))).one()
        if row.next_attempt_at is None:
            break
        waits.append((row.next_attempt_at - utcnow()).total_seconds())
        # still backing off: a send run now leaves it alone
        assert (await send_queued(actx.members, {"console": Flaky()})).retried == 0
        async with actx.members.sessions() as session, session.begin():
            due = await session.get(Delivery, row.id)
            assert due is not None
            due.next_attempt_at = utcnow()  # time passes
    assert (counts.failed, row.status, row.attempts) == (1, "failed", 5)
    assert [round(w / 30) for w in waits] == [1, 2, 4, 8] and "502" in row.last_error
