"""End to end: the real python-telegram-bot Application against a fake Bot API server on
loopback, with the real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import SecretStr
from sqlalchemy import and_, or_
from sqlmodel import col, func, select

from bot.container import Services
from digests.models import AccessPassword, Delivery, Post, Publication, utcnow
from digests.readers.account import get_subscriber
from tests.conftest import FIXTURES, Blog, Route
from tests.fake_telegram import FakeTelegram, running_bot

ADMIN, ALICE, BOB = 1000, 2001, 2002
SEED_TITLE = "2.10科技大爆发，字节模型解读，CPO更新"


async def until(check: Callable[[], bool], within: float = 60.0) -> None:
    """Wait for the bot (running concurrently) to have done something (the limit only ends a
    test that would hang: a loaded machine renders a chart in seconds, not 10)."""
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the bot did not do it in time")
        await asyncio.sleep(0.02)


async def outbox_idle(services: Services, within: float = 20.0) -> None:
    """Wait until no outbox row is due or being sent: every message the bot was going to send
    now has reached the fake (a lane sends before its outcome is written). What a test then
    counts is final, where a pause would only guess."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        later = col(Delivery.next_attempt_at)
        due = or_(later.is_(None), later <= utcnow())
        async with services.store_context().sessions() as session:
            busy = await session.exec(
                select(func.count()).where(
                    or_(
                        col(Delivery.status) == "sending",
                        and_(col(Delivery.status) == "queued", due),
                    )
                )
            )
            if not busy.one():
                return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the outbox did not finish in time")
        await asyncio.sleep(0.02)


def said(fake: FakeTelegram, chat: int, text: str) -> Callable[[], bool]:
    return lambda: any(text in message for message in fake.inbox.get(chat, []))


async def subscribe(fake: FakeTelegram, *users: int) -> None:
    """Each user sends /start and gets the welcome."""
    for user in users:
        fake.user_says(user, "/start")
        await until(said(fake, user, "欢迎订阅"))


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[tuple[FakeTelegram, Services]]:
    """Samples ingested, February's password set, the bot polling the fake server (whose
    setMyCommands fails: cosmetic, must not stop the bot)."""
    async with running_bot(database_url, ADMIN, fail_methods={"setMyCommands"}) as running:
        yield running


async def test_start_wrong_then_right_password_then_latest(
    running: tuple[FakeTelegram, Services],
) -> None:
    """The password message is deleted; /latest shows the digest only after unlocking."""
    fake, _ = running
    fake.user_says(ADMIN, "/publish 2-10-zhui-zong")
    await until(said(fake, ADMIN, "已发布"))
    await subscribe(fake, ALICE)
    fake.user_says(ALICE, "/latest")
    await until(said(fake, ALICE, "是会员文章"))
    wrong = fake.user_says(ALICE, "ld2601")
    await until(said(fake, ALICE, "密码不正确"))
    fake.user_says(ALICE, "ld2602")
    await until(said(fake, ALICE, "解锁成功"))
    await until(lambda: any(chat == ALICE for chat, _ in fake.deleted))  # after the answer
    assert wrong
    fake.user_says(ALICE, "/latest")
    await until(said(fake, ALICE, f"<b>{SEED_TITLE}</b>"))
    assert [m for m, _ in fake.calls].count("setMyCommands") == 1  # failed (500), bot went on


async def test_lockout_after_five_failures(running: tuple[FakeTelegram, Services]) -> None:
    """Five wrong /unlock within 15 minutes: even the right password is refused for now."""
    fake, _ = running
    for attempt in range(1, 6):
        fake.user_says(BOB, f"/unlock wrong{attempt}")
        await until(lambda n=attempt: len(fake.inbox.get(BOB, [])) == n)  # type: ignore[misc]
    fake.user_says(BOB, "/unlock ld2602")
    await until(said(fake, BOB, "错误次数过多"))
    assert not said(fake, BOB, "解锁成功")()


async def test_admin_uploads_md_previews_publishes_to_the_entitled_once(
    running: tuple[FakeTelegram, Services],
) -> None:
    """.md upload → preview with 发布/重新生成/丢弃 → 发布 → unlocked reader gets it once,
    the locked reader does not."""
    fake, services = running
    await subscribe(fake, ALICE, BOB)
    fake.user_says(ALICE, "ld2602")
    await until(said(fake, ALICE, "解锁成功"))
    post = (
        "---\ntitle: 盘后速递\ndate: 2026-02-13 15:30:00\npassword: ld2602\n---\n\n"
        "## 通信\n\n- 龙头天孚通信，小弟腾景科技\n\n美国CPI周五公布。\n"
    ).encode()
    fake.user_sends_file(ADMIN, "pan-hou.md", post, caption="/post")
    await until(lambda: bool(fake.buttons(ADMIN)))
    assert [label for label, _ in fake.buttons(ADMIN)] == ["发布", "重新生成", "丢弃", "编辑"]
    assert said(fake, ADMIN, "预览《盘后速递》（会员）")()
    fake.user_presses(ADMIN, fake.buttons(ADMIN)[0][1])
    await until(said(fake, ALICE, "盘后速递"))
    await outbox_idle(services)  # a duplicate would have been sent by now
    assert sum("盘后速递" in m for m in fake.inbox[ALICE]) == 1
    assert not said(fake, BOB, "盘后速递")()


async def test_publish_pressed_twice_sends_once_and_again_reaches_only_the_rest(
    running: tuple[FakeTelegram, Services],
) -> None:
    """发布 pressed twice: each reader gets the note once and the admin reads 已发布 with the
    progress; /publish SLUG --again reaches a reader who unlocked since, not the others."""
    fake, services = running
    await subscribe(fake, ALICE, BOB)
    fake.user_says(ALICE, "ld2602")
    await until(said(fake, ALICE, "解锁成功"))
    fake.user_says(ADMIN, "/post 盘后速递\n\n## 通信\n\n- 龙头天孚通信，小弟腾景科技")
    await until(lambda: bool(fake.buttons(ADMIN)))
    publish = fake.buttons(ADMIN)[0][1]
    fake.user_presses(ADMIN, publish)
    fake.user_presses(ADMIN, publish)
    await until(said(fake, ADMIN, "》已发布（"))
    await until(lambda: all(said(fake, chat, "盘后速递")() for chat in (ALICE, BOB)))
    fake.user_says(ADMIN, "/publish 2-10-zhui-zong")
    await until(said(fake, ALICE, SEED_TITLE))
    fake.user_says(BOB, "ld2602")
    await until(said(fake, BOB, "解锁成功"))
    fake.user_says(ADMIN, "/publish 2-10-zhui-zong --again")
    await until(said(fake, ADMIN, "已再次发布"))
    await until(said(fake, BOB, SEED_TITLE))
    await outbox_idle(services)  # a duplicate would have been sent by now
    for chat in (ALICE, BOB):
        assert sum("盘后速递" in m for m in fake.inbox[chat]) == 1
        assert sum(SEED_TITLE in m for m in fake.inbox[chat]) == 1
    assert any("已发送" in m and "排队" in m for m in fake.inbox[ADMIN])


async def test_admin_uploads_md_with_an_impossible_date_and_is_told_why(
    running: tuple[FakeTelegram, Services],
) -> None:
    """A .md dated 2026-02-30 gets a reply naming the date; nothing is stored."""
    fake, services = running
    post = "---\ntitle: 坏日期\ndate: 2026-02-30 10:00:00\n---\n\n正文\n".encode()
    fake.user_sends_file(ADMIN, "feb-30.md", post)
    await until(said(fake, ADMIN, "没有保存：date 2026-02-30 10:00:00 is not a real date"))
    async with services.store_context().sessions() as session:
        titles = (await session.exec(select(Post.title))).all()
    assert "坏日期" not in titles


async def test_an_upload_without_a_declared_size_is_read_no_further_than_2_mb(
    running: tuple[FakeTelegram, Services],
) -> None:
    """A 20 MB .md whose size Telegram did not declare: the download stops past 2 MB, the
    admin is told, and nothing is stored."""
    fake, services = running
    head = "---\ntitle: 巨大\ndate: 2026-02-13 15:30:00\n---\n\n".encode()
    content = head + b"x" * (20 * 1024 * 1024)
    fake.user_sends_file(ADMIN, "huge.md", content, declared=False)
    await until(said(fake, ADMIN, "文件超过 2 MB，未保存。"))
    assert fake.served["documents/huge.md"] < len(content) // 2
    async with services.store_context().sessions() as session:
        assert "巨大" not in (await session.exec(select(Post.title))).all()


async def test_failed_password_add_is_deleted_and_answered_with_a_sentence(
    running: tuple[FakeTelegram, Services],
) -> None:
    """Missing dates, a reversed range, 02-30 and 9999-12-31: each answered with a sentence
    that does not repeat the password, and each message deleted; nothing is added."""
    fake, services = running
    tries = {
        "/password_add pw-only": "用法：/password_add",
        "/password_add pw-rev 2026-03-31 2026-03-01": "the period ends before it starts",
        "/password_add pw-feb30 2026-02-01 2026-02-30": "结束日期不存在",
        "/password_add pw-never 2026-01-01 9999-12-31": "a period lies between",
        "/password_add 2026-03-01 pw-swapped 2026-03-31": "开始日期应写作 YYYY-MM-DD",
    }
    for number, (text, answer) in enumerate(tries.items(), start=1):
        fake.user_says(ADMIN, text)
        await until(said(fake, ADMIN, answer))
        await until(lambda n=number: [c for c, _ in fake.deleted].count(ADMIN) == n)  # type: ignore[misc]
    assert not any("pw-" in m for m in fake.inbox[ADMIN])
    async with services.store_context().sessions() as session:
        assert (await session.exec(select(func.count()).select_from(AccessPassword))).one() == 1


async def test_non_admin_publish_is_refused(running: tuple[FakeTelegram, Services]) -> None:
    """A subscriber's /publish gets a refusal and publishes nothing."""
    fake, services = running
    fake.user_says(BOB, "/publish 2-10-zhui-zong")
    await until(said(fake, BOB, "仅限管理员"))
    async with services.store_context().sessions() as session:
        assert (await session.exec(select(func.count()).select_from(Publication))).one() == 0


async def test_blocked_user_is_marked_gone_and_gets_nothing_more(
    running: tuple[FakeTelegram, Services],
) -> None:
    """403 from Telegram → subscriber gone; the next publication is not even attempted."""
    fake, services = running
    await subscribe(fake, BOB)
    fake.blocked.add(BOB)
    fake.user_says(ADMIN, "/publish 2026-02-20-public-new-year")
    await until(said(fake, ADMIN, "已发布"))

    async def status() -> str:
        async with services.store_context().sessions() as session:
            found = await get_subscriber(session, channel="telegram", external_id=str(BOB))
            return found.status if found else ""

    for _ in range(200):
        if await status() == "gone":
            break
        await asyncio.sleep(0.02)
    assert await status() == "gone"
    attempts = sum(1 for m, p in fake.calls if m == "sendMessage" and int(p["chat_id"]) == BOB)
    fake.user_says(ADMIN, "/publish 2026-02-20-public-new-year --again")
    await until(said(fake, ADMIN, "已再次发布"))
    await outbox_idle(services)  # whatever this publication would send has been sent
    after = sum(1 for m, p in fake.calls if m == "sendMessage" and int(p["chat_id"]) == BOB)
    assert after == attempts


async def test_rate_limited_send_is_retried_not_lost(
    running: tuple[FakeTelegram, Services],
) -> None:
    """A 429 with retry_after: the message waits and is sent once."""
    fake, services = running
    await subscribe(fake, ALICE)
    fake.rate_limited = 1  # the next sendMessage, whichever it is, answers 429
    fake.user_says(ADMIN, "/publish 2026-02-20-public-new-year")
    await until(said(fake, ADMIN, "已发布"))
    await until(said(fake, ALICE, "节后第一篇"), within=15)
    assert fake.rate_limited == 0
    await outbox_idle(services)  # a second copy would have been sent by now
    assert sum("节后第一篇" in m for m in fake.inbox[ALICE]) == 1


async def test_admin_passwords_subscribers_and_confirmed_broadcast(
    running: tuple[FakeTelegram, Services],
) -> None:
    """/password_add is deleted from the chat and never echoed; /broadcast needs the confirm
    button and reaches every active subscriber once."""
    fake, _ = running
    await subscribe(fake, ALICE)
    fake.user_says(ADMIN, "/password_add ld2603 2026-03-01 2026-03-31")
    await until(said(fake, ADMIN, "已添加会员期 2026-03"))
    await until(lambda: any(chat == ADMIN for chat, _ in fake.deleted))  # after the answer
    fake.user_says(ADMIN, "/passwords")
    await until(said(fake, ADMIN, "2026-03："))
    assert not any("ld2603" in m for m in fake.inbox[ADMIN])
    fake.user_says(ADMIN, "/subscribers")
    await until(said(fake, ADMIN, "活跃 1"))
    fake.user_says(ADMIN, "/broadcast 今晚八点直播")
    await until(lambda: bool(fake.buttons(ADMIN)))
    assert not said(fake, ALICE, "今晚八点直播")()
    fake.user_presses(ADMIN, fake.buttons(ADMIN)[0][1])
    await until(said(fake, ALICE, "今晚八点直播"))
    fake.user_presses(ADMIN, fake.buttons(ADMIN)[0][1])  # a second press sends nothing
    await until(said(fake, ADMIN, "已经发送过"))
    assert sum("今晚八点直播" in m for m in fake.inbox[ALICE]) == 1


async def test_admin_posts_a_url_and_gets_a_preview(
    running: tuple[FakeTelegram, Services], blog: Blog
) -> None:
    """/post URL fetches the page (here an encrypted Hexo page), decrypts it and previews it."""
    fake, services = running
    page = (FIXTURES / "hexo" / "v3" / "cpo-update.html").read_bytes()
    blog.routes["/cpo-update/"] = Route(body=page, headers={"Content-Type": "text/html"})
    services.settings.feed_passwords = [SecretStr("ld2602")]
    fake.user_says(ADMIN, f"/post {blog.url('/cpo-update/')}")
    await until(lambda: bool(fake.buttons(ADMIN)))
    assert said(fake, ADMIN, "预览《CPO更新与节前风险》（会员）")()
