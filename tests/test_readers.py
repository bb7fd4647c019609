"""A reader through the channel-agnostic use cases (console channel), on SQLite and PostgreSQL:
/start, a wrong then the right password, /latest; the lockout; access-expiry notices."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from bot.console import ConsoleChannel, handle
from digests.kinds import registry
from digests.models import utcnow
from digests.outbox.dispatcher import send_queued
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import passwords, periods
from digests.readers.expiry import queue_expiry_notices
from tests.conftest import SHANGHAI, fresh, reader


async def test_start_wrong_then_right_password_then_latest(actx: AdminContext) -> None:
    """A bare message after /start is the password; the reply asks to delete it."""
    alice = await reader(actx, "alice")
    wrong = await handle(actx, alice, "ld2601", is_admin=False)
    assert "密码不正确" in wrong.text and "还可尝试 4 次" in wrong.text and wrong.delete_incoming
    right = await handle(actx, await fresh(actx, alice), "ld2602", is_admin=False)
    assert "解锁成功" in right.text and "2026-02-01 至 2026-02-28" in right.text
    assert (await handle(actx, alice, "/latest", is_admin=False)).text == "还没有发布的摘要。"
    await publish.publish_post(actx, "2-10-zhui-zong", by="test")
    latest = await handle(actx, alice, "/latest", is_admin=False)
    assert latest.digest is not None and latest.digest.title.startswith("2.10科技大爆发")


async def test_lockout_after_five_failures_even_for_the_right_password(
    actx: AdminContext,
) -> None:
    """Five wrong passwords lock unlocking for 15 minutes with a clear message."""
    bob = await reader(actx, "bob")
    replies = [await passwords.unlock(actx.store, bob, f"guess{i}") for i in range(5)]
    assert "解锁已暂停 15 分钟" in replies[-1].text
    locked = await passwords.unlock(actx.store, bob, "ld2602")
    assert "错误次数过多" in locked.text and "分钟后再试" in locked.text
    later = await passwords.unlock(actx.store, bob, "ld2602", now=utcnow() + timedelta(minutes=16))
    assert "解锁成功" in later.text


async def test_expiry_notices_three_days_one_day_and_ended_once_each(actx: AdminContext) -> None:
    """With a fixed clock: 3-day and 1-day reminders and one 'ended' notice, each once; a
    reader who already holds the next period gets none."""
    alice, bob = [await reader(actx, n) for n in ("alice", "bob")]
    await periods.add_password(actx.store, "ld2603", date(2026, 3, 1), date(2026, 3, 31), "2026-03")
    for who in (alice, bob):
        await passwords.unlock(actx.store, who, "ld2602", now=utcnow())
    await passwords.unlock(actx.store, bob, "ld2603", now=utcnow())

    def at(day: int, hour: int, month: int = 2) -> datetime:
        return datetime(2026, month, day, hour, tzinfo=SHANGHAI)

    queued = [
        await queue_expiry_notices(actx.store, now=moment)
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
    await send_queued(actx.store, registry(), {"console": channel})
    notices = channel.inbox["alice"]
    assert len(notices) == 3 and "bob" not in channel.inbox
    assert "3 天内结束" in notices[0] and "1 天内结束" in notices[1] and "已结束" in notices[2]
