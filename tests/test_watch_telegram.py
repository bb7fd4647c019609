"""Watchlists end to end: the real PTB Application against the fake Bot API
(tests/fake_telegram.py), with the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.container import Services
from digests import fingerprint
from digests.readers.account import get_subscriber
from digests.watch import lists
from tests.fake_telegram import FakeTelegram, running_bot
from tests.test_telegram import SEED_TITLE, outbox_idle, said, subscribe, until

ADMIN, ALICE, BOB, CAROL, DAVE = 1000, 2001, 2002, 2003, 2004
POINT = "龙头天孚通信"  # the point of the seed digest that names 天孚通信


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[tuple[FakeTelegram, Services]]:
    """Samples ingested, February's password set, the bot polling the fake server."""
    async with running_bot(database_url, ADMIN) as running:
        yield running


def count(fake: FakeTelegram, chat: int, text: str) -> int:
    return sum(text in message for message in fake.inbox.get(chat, []))


async def ask(fake: FakeTelegram, chat: int, text: str, expect: str) -> None:
    fake.user_says(chat, text)
    await until(said(fake, chat, expect))


async def test_watch_publish_star_and_alerts_once_gated_points_only_to_the_entitled(
    running: tuple[FakeTelegram, Services],
) -> None:
    """An entitled instant watcher's digest carries ⭐ (full-width and upper-case names match);
    an entitled edition watcher gets one alert with the points; locked watchers get 🔒 title
    and names only; --again alerts nobody twice."""
    fake, services = running
    await subscribe(fake, ALICE, BOB, CAROL, DAVE)
    for chat in (ALICE, CAROL):
        await ask(fake, chat, "ld2602", "解锁成功")
    for chat in (CAROL, DAVE):
        fake.user_presses(chat, "set:edition")
        await until(said(fake, chat, "设置已更新"))
    await ask(fake, ALICE, "/watch 天孚通信", "已关注「天孚通信」（1/50）")
    await ask(fake, ALICE, "/watch ＢＩＬＩＢＩＬＩ", "已关注「BILIBILI」（2/50）")
    await ask(fake, ALICE, "/watch 火星矿业", "还没有哪篇摘要提到过「火星矿业」")
    await ask(fake, ALICE, "/watch 天孚通信", "已经关注了「天孚通信」")
    await ask(fake, ALICE, "/watchlist", "你关注的（3/50）：天孚通信、BILIBILI、火星矿业")
    await ask(fake, BOB, "/watch 天孚通信", "已关注")
    await ask(fake, CAROL, "/watch 通信", "已关注")
    await ask(fake, DAVE, "/watch 天孚通信", "已关注")

    fake.user_says(ADMIN, "/publish 2-10-zhui-zong")
    await until(said(fake, ALICE, SEED_TITLE))
    await until(lambda: all(said(fake, c, SEED_TITLE)() for c in (BOB, CAROL, DAVE)))
    # each copy carries its reader's invisible marks (digests/fingerprint.py): read without
    alice = [fingerprint.strip(m) for m in fake.inbox[ALICE] if SEED_TITLE in m]
    assert alice[0].startswith("⭐ 你关注的：天孚通信、bilibili\n<b>")
    carol = fingerprint.strip(next(m for m in fake.inbox[CAROL] if SEED_TITLE in m))
    assert carol.startswith("⭐ 你关注的：通信\n") and POINT in carol
    assert [label for label, _ in fake.buttons(CAROL)] == ["阅读摘要"]
    for locked in (BOB, DAVE):
        teaser = fingerprint.strip(next(m for m in fake.inbox[locked] if SEED_TITLE in m))
        assert teaser.startswith("⭐ 你关注的：天孚通信\n🔒《") and POINT not in teaser

    fake.user_says(ADMIN, "/publish 2-10-zhui-zong --again")
    await until(said(fake, ADMIN, "已再次发布"))
    await outbox_idle(services)  # a duplicate would have been sent by now
    assert [count(fake, c, SEED_TITLE) for c in (ALICE, BOB, CAROL, DAVE)] == [1, 1, 1, 1]


async def test_stock_timeline_locks_and_unwatch_and_stats(
    running: tuple[FakeTelegram, Services],
) -> None:
    """/stock lists a locked digest as 🔒 date and title only, the points once unlocked;
    /unwatch removes; the admin's /stats shows the most-watched names."""
    fake, _ = running
    await subscribe(fake, BOB, CAROL)
    fake.user_says(ADMIN, "/publish 2-10-zhui-zong")
    await until(said(fake, ADMIN, "已发布"))
    await ask(fake, BOB, "/stock 天孚通信", "出现在 1 篇摘要中")
    assert said(fake, BOB, f"🔒 2026-02-12《{SEED_TITLE}》")() and not said(fake, BOB, POINT)()
    await ask(fake, BOB, "ld2602", "解锁成功")
    await ask(fake, BOB, "/stock 天孚通信", POINT)
    assert said(fake, BOB, f"2026-02-12《{SEED_TITLE}》· 通信")()
    await ask(fake, BOB, "/stock 不存在的公司", "还没有哪篇摘要提到过「不存在的公司」")
    await ask(fake, BOB, "/watch 天孚通信", "已关注")
    await ask(fake, CAROL, "/watch 天孚通信", "已关注")
    assert not said(fake, CAROL, "还没有哪篇摘要提到过")()  # the published digest names it
    await ask(fake, CAROL, "/watch hbm", "还没有哪篇摘要提到过「hbm」")
    await ask(fake, ADMIN, "/stats", "关注最多：天孚通信 2 人、hbm 1 人")
    await ask(fake, CAROL, "/unwatch HBM", "已取消关注「HBM」")
    await ask(fake, CAROL, "/unwatch HBM", "你没有关注「HBM」")


async def test_fifty_names_at_most(running: tuple[FakeTelegram, Services]) -> None:
    """The 50th name is kept, the 51st refused with a sentence."""
    fake, services = running
    await subscribe(fake, ALICE)
    ctx = services.store_context()
    async with ctx.sessions() as session:
        reader = await get_subscriber(session, channel="telegram", external_id=str(ALICE))
    assert reader is not None
    for n in range(49):
        await lists.watch(ctx, reader, f"名称{n}")
    await ask(fake, ALICE, "/watch 天孚通信", "已关注「天孚通信」（50/50）")
    await ask(fake, ALICE, "/watch 液冷", "最多关注 50 个名称")
    await ask(fake, ALICE, "/watchlist", "你关注的（50/50）")
