"""One scripted conversation, every reader command and then every admin command, on the three
channels: Telegram (the real PTB Application against the fake Bot API), WeChat (signed,
encrypted safe-mode callbacks through the real /wechat endpoint, the fake API behind it) and
the console. Each step is the table's command spelled as that channel's readers type it, and
gets the same answer on all three; no WeChat answer holds a Telegram command, and small talk
costs no password try."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import date

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from bot import console
from bot.app import build_app
from bot.container import open_services
from digests import commands
from digests.commands import ChatChannel
from digests.ingest.core import ingest
from digests.publishing import publish
from digests.readers import periods
from digests.readers.account import register
from digests.replies import MARK_OPEN
from tests.conftest import EXAMPLES
from tests.fake_telegram import running_bot
from tests.fake_wechat import SECRET, fake_wechat
from tests.test_wechat import APP_ID, follow, settings_for, text

PUBLIC = "2026-02-20-public-new-year"
NOTE = "盘后速递\n\n## 通信\n\n- 龙头天孚通信，订单饱满"
# (who, command or None for a bare message, what follows, what every channel's answer holds)
READER, ADMIN = "reader", "admin"
SCRIPT: list[tuple[str, str | None, str, str]] = [
    (READER, None, "你好", "最新摘要"),  # small talk: the help…
    (READER, None, "ld2601", "还可尝试 4 次"),  # …and no try spent: this is the first
    (READER, None, "ld2602", "解锁成功"),
    (READER, "help", "", "最新摘要"),
    (READER, "latest", "", "节后第一篇"),
    (READER, "digests", "", "最近的摘要"),
    (READER, "search", "", "用法"),
    (READER, "ask", "", "用法"),
    (READER, "status", "", "推送方式"),
    (READER, "settings", "", "选择推送方式与提醒"),
    (READER, "settings", "合集", "设置已更新"),
    (READER, "calendar", "", "未来 7 天"),
    (READER, "calendar_reset", "", "日历订阅地址已更换"),
    (READER, "remind", "关", "已关闭事件提醒"),
    (READER, "watch", "天孚通信", "天孚通信"),
    (READER, "watchlist", "", "天孚通信"),
    (READER, "stock", "天孚通信", "天孚通信"),
    (READER, "unwatch", "天孚通信", "天孚通信"),
    (READER, "redeem", "K7QD-M2XA-9HPW", "兑换码无效"),
    (READER, "unlock", "", "用法"),
    (READER, "stats", "", "仅限管理员"),
    (READER, "stop", "", "已退订"),
    (READER, "start", "", "欢迎订阅"),
    (ADMIN, "passwords", "", "2026-02："),
    (ADMIN, "password_add", "ld2603 2026-03-01 2026-03-31", "已添加会员期 2026-03"),
    (ADMIN, "password_remove", "2026-03", "已删除会员期 2026-03"),
    (ADMIN, "codes", "", "还没有兑换码"),
    (ADMIN, "readers", "nobody-here", "没有找到读者"),
    (ADMIN, "revoke", "nobody-here", "没有找到读者"),
    (ADMIN, "subscribers", "", "订阅者：活跃"),
    (ADMIN, "stats", "", "投递："),
    (ADMIN, "post", NOTE, "预览《盘后速递》"),
    (ADMIN, "publish", "2-10-zhui-zong", "已发布《"),
    (ADMIN, "broadcast", "今晚八点直播", "将发给所有活跃订阅者"),
    (ADMIN, "event_add", "2027-06-01 美国CPI", "已添加 #"),
    (ADMIN, "events", "", "美国CPI"),
    (ADMIN, "closures", "", "休市"),
    (ADMIN, "closure_add", "2027-10-08 国庆节", "已记为休市"),
    (ADMIN, "closure_remove", "2027-10-08", "已改为交易日"),
]
# a /command the way Telegram spells it, not inside a URL (https://…/calendar/… is fine)
TELEGRAM_COMMAND = re.compile(r"(?<![\w/.:])/[a-z_]{3,}")
Say = Callable[[str, str, str], str]  # who, typed text, expected → the answer


def typed(channel: ChatChannel, name: str | None, rest: str) -> str:
    """What a reader of `channel` types for a step."""
    if name is None:
        return rest
    row = commands.by_name(name)
    assert row is not None
    return f"{row.word(channel)} {rest}".strip()


@contextmanager
def telegram(database_url: str) -> Iterator[tuple[Say, Callable[[], int]]]:
    chats = {READER: 2001, ADMIN: 1000}
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        fake, services = runner.run(stack.enter_async_context(running_bot(database_url, 1000)))
        runner.run(publish.publish_post(services.admin_context(), PUBLIC, by="test"))

        async def wait(chat: int, seen: int, expected: str) -> str:
            deadline = asyncio.get_running_loop().time() + 30
            while not any(expected in m for m in fake.inbox.get(chat, [])[seen:]):
                if asyncio.get_running_loop().time() > deadline:
                    raise AssertionError(f"no {expected!r} in {fake.inbox.get(chat, [])[seen:]}")
                await asyncio.sleep(0.02)
            return "\n".join(fake.inbox[chat][seen:])

        def say(who: str, line: str, expected: str) -> str:
            chat = chats[who]
            seen = len(fake.inbox.get(chat, []))
            fake.user_says(chat, line)
            return runner.run(wait(chat, seen, expected))

        async def photos() -> int:  # the chart follows its figures: wait for it
            deadline = asyncio.get_running_loop().time() + 30
            while not fake.photos.get(chats[ADMIN]):
                if asyncio.get_running_loop().time() > deadline:
                    return 0
                await asyncio.sleep(0.02)
            return len(fake.photos[chats[ADMIN]])

        say(READER, "/start", "欢迎订阅")
        try:
            yield say, lambda: runner.run(photos())
        finally:
            runner.run(stack.aclose())


@contextmanager
def wechat(database_url: str) -> Iterator[tuple[Say, Callable[[], int]]]:
    openids = {READER: "o-reader", ADMIN: "o-admin"}
    with fake_wechat(appid=APP_ID) as api:
        settings = settings_for(database_url).model_copy(
            update={
                "wechat_app_secret": SecretStr(SECRET),
                "wechat_api_base_url": api.base_url,
                "wechat_admin_openids": [openids[ADMIN]],
                "public_base_url": "https://digest.example",
            }
        )
        asyncio.run(_samples(settings))
        with TestClient(build_app(settings)) as client:

            def say(who: str, line: str, expected: str) -> str:
                openid = openids[who]
                api.user_wrote(openid)  # what WeChat knows: the user wrote just now
                seen = len(api.inbox.get(openid, []))
                status, answer = text(client, openid, line)
                assert status == 200
                if answer == "success":  # not ready within 4 s: it follows, through the outbox
                    arrived(lambda: len(api.inbox.get(openid, [])) > seen)
                    answer = "\n".join(api.inbox[openid][seen:])
                return answer

            def pictures() -> int:  # after the figures, as a customer-service image message
                arrived(lambda: bool(api.images.get(openids[ADMIN])))
                return len(api.images[openids[ADMIN]])

            assert "欢迎关注" in follow(client, openids[READER])[1]
            follow(client, openids[ADMIN])
            yield say, pictures


def arrived(check: Callable[[], bool], within: float = 60.0) -> None:
    """Wait (the app runs in TestClient's thread) until `check` holds."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "it did not arrive in time"
        time.sleep(0.05)


async def _samples(settings: object) -> None:
    async with open_services(settings) as services:  # type: ignore[arg-type]
        [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
        actx = services.admin_context()
        await periods.add_password(
            actx.store, "ld2602", date(2026, 2, 1), date(2026, 2, 28), "2026-02"
        )
        await publish.publish_post(actx, PUBLIC, by="test")


@contextmanager
def terminal(database_url: str) -> Iterator[tuple[Say, Callable[[], int]]]:
    images = []
    settings = settings_for(database_url)
    with asyncio.Runner() as runner:
        runner.run(_samples(settings))
        stack = AsyncExitStack()
        services = runner.run(stack.enter_async_context(open_services(settings)))
        actx = services.admin_context()
        users = {
            who: runner.run(register(actx.store, channel="console", external_id=who))[0]
            for who in (READER, ADMIN)
        }

        async def one(who: str, line: str) -> str:
            async with actx.store.sessions() as session:  # what earlier steps changed
                reader = await session.get(type(users[who]), users[who].id)
            assert reader is not None
            reply = await console.handle(actx, reader, line, is_admin=who == ADMIN)
            if reply.image is not None:
                images.append(reply.image)
            return console.show(reply)

        def say(who: str, line: str, expected: str) -> str:
            return runner.run(one(who, line))

        try:
            yield say, lambda: len(images)
        finally:
            runner.run(stack.aclose())


CHANNELS = {
    ChatChannel.TELEGRAM: telegram,
    ChatChannel.WECHAT: wechat,
    ChatChannel.CONSOLE: terminal,
}


@pytest.mark.parametrize("channel", list(CHANNELS), ids=str)
def test_one_conversation_on_every_channel(database_url: str, channel: ChatChannel) -> None:
    """Every reader command, then every admin command, spelled for the channel: the same
    answer on each (its key phrase, no unspelled command mark), the admin's chart as a
    picture, and on WeChat never a Telegram command."""
    with CHANNELS[channel](database_url) as (say, pictures):
        for who, name, rest, expected in SCRIPT:
            answer = say(who, typed(channel, name, rest), expected)
            step = f"{channel} {who}: {typed(channel, name, rest)!r} → {answer!r}"
            assert expected in answer, step
            assert MARK_OPEN not in answer, step
            if channel is ChatChannel.WECHAT:
                assert not TELEGRAM_COMMAND.search(answer), step
            if name == "stats" and who == ADMIN:
                assert pictures() == 1, step  # the readership chart, as an image
