"""The command table and its pure parts: every row on every channel, WeChat's words unique,
help and usage spelled per channel, button data back to rows, and the password shapes that
decide which bare message is an unlock attempt."""

from __future__ import annotations

import json
import re

import pytest

from digests import commands
from digests.commands import COMMANDS, ChatChannel
from digests.readers import shapes
from digests.replies import OWN_ARGS, Reply, command
from tests.fake_telegram import running_bot
from tests.test_telegram import ADMIN, ALICE, until

TELEGRAM_COMMAND = re.compile(r"(?<![\w/.:])/[a-z_]{3,}")


def test_every_command_has_wechat_words_and_no_word_is_taken_twice() -> None:
    """WeChat parity: every row, buttons' actions included, has words, and a word names one
    row only."""
    words = [word for row in COMMANDS for word in row.wechat]
    assert [r.name for r in COMMANDS if not r.wechat] == []
    assert len(words) == len(set(words))
    assert len({row.name for row in COMMANDS}) == len(COMMANDS)


@pytest.mark.parametrize("admin", [False, True], ids=["reader", "admin"])
def test_help_is_spelled_for_each_channel(admin: bool) -> None:
    """WeChat's help names words (问 问题), Telegram's commands (/ask 问题); an admin's help adds
    the admin commands, a reader's has none; buttons' actions are in neither."""
    wechat = commands.help_text(ChatChannel.WECHAT, admin=admin)
    telegram = commands.help_text(ChatChannel.TELEGRAM, admin=admin)
    assert "问 问题" in wechat and not TELEGRAM_COMMAND.search(wechat)
    assert "/ask 问题" in telegram
    assert ("统计" in wechat) is admin and ("/stats" in telegram) is admin
    assert "阅读" not in wechat and "/open" not in telegram


@pytest.mark.parametrize(
    ("text", "telegram", "wechat"),
    [
        (f"发送 {command('unlock', '密码')}", "发送 /unlock 密码", "发送 解锁 密码"),
        (f"用法：{command('remind', OWN_ARGS)}", "用法：/remind on|off", "用法：提醒 开/关"),
        (
            f"{command('publish', 'a-post --again')}",
            "/publish a-post --again",
            "发布 a-post --again",
        ),
        ("没有命令", "没有命令", "没有命令"),
    ],
)
def test_a_reply_names_a_command_as_each_channel_types_it(
    text: str, telegram: str, wechat: str
) -> None:
    """The marks a use case writes are spelled from the row, never patched."""
    assert commands.spell(text, ChatChannel.TELEGRAM) == telegram
    assert commands.spell(text, ChatChannel.CONSOLE) == telegram
    assert commands.spell(text, ChatChannel.WECHAT) == wechat


def test_buttons_become_words_on_wechat() -> None:
    """WeChat has no buttons: each becomes a line saying what to send; Telegram keeps them."""
    reply = Reply("选择：", choices=[("即时推送", "settings:即时"), ("更多", "stock:天孚通信 2")])
    wechat = commands.spelled(reply, ChatChannel.WECHAT)
    assert not wechat.choices
    assert (
        "即时推送：回复「设置 即时」" in wechat.text
        and "更多：回复「个股 天孚通信 2」" in wechat.text
    )
    assert commands.spelled(reply, ChatChannel.TELEGRAM).choices == reply.choices


@pytest.mark.parametrize(
    ("channel", "text", "name", "rest"),
    [
        (ChatChannel.TELEGRAM, "/latest@digest_bot", "latest", ""),
        (ChatChannel.TELEGRAM, "/SEARCH 液冷", "search", "液冷"),
        (ChatChannel.WECHAT, "最新", "latest", ""),
        (ChatChannel.WECHAT, "问 为什么看好液冷？", "ask", "为什么看好液冷？"),
        (ChatChannel.WECHAT, "关注天孚通信", "watch", "天孚通信"),
        (ChatChannel.WECHAT, "取消关注 天孚通信", "unwatch", "天孚通信"),
        (ChatChannel.WECHAT, "我的关注", "watchlist", ""),
        (ChatChannel.WECHAT, "设置 合集", "settings", "合集"),
        (ChatChannel.WECHAT, "统计", "stats", ""),
    ],
)
def test_a_message_finds_its_row(channel: ChatChannel, text: str, name: str, rest: str) -> None:
    """Each channel's spelling of a command finds the same row."""
    found = commands.find(channel, text)
    assert found is not None and (found[0].name, found[1]) == (name, rest)


@pytest.mark.parametrize("text", ["你好", "在吗", "谢谢", "ld2602", "/latest", "最新消息呢"])
def test_what_is_no_command(text: str) -> None:
    """Small talk, a password and the other channel's spelling are no command on WeChat."""
    assert commands.find(ChatChannel.WECHAT, text) is None


def test_button_data_runs_its_row() -> None:
    """open:12, set:instant (a button sent before the table) and stock:名称 2 find their rows."""
    for data, name, value in (
        ("open:12", "open", "12"),
        ("set:instant", "settings", "instant"),
        ("stock:天孚通信 2", "stock", "天孚通信 2"),
        ("evok:3", "evok", "3"),
    ):
        found = commands.action(data)
        assert found is not None and (found[0].name, found[1]) == (name, value)
    assert commands.action("nothing:1") is None


@pytest.mark.parametrize(
    ("text", "stored", "attempt"),
    [
        ("ld2602", ["a9:6"], True),
        ("LD2603", ["a9:6"], True),  # letters of either case
        ("ld260", ["a9:6"], True),  # a digit short: still a try (and told so)
        ("ld26021234", ["a9:6"], False),  # too long to be one
        ("你好", ["a9:6"], False),
        ("在吗", ["a9:6"], False),
        ("谢谢", ["a9:6"], False),
        ("hello", ["a9:6"], False),
        ("2602ld", ["a9:6"], False),  # the classes in another order
        ("spring-2026", ["a-9:11"], True),
        ("你好", [], False),  # no shape known: one word with a digit
        ("ld2602", [], True),
        ("ld2602", ["", "a-9:11"], True),  # a password of unknown shape among them
        ("thanks", [], False),
    ],
)
def test_only_a_message_shaped_like_a_password_is_an_attempt(
    text: str, stored: list[str], attempt: bool
) -> None:
    """The policy of readers/shapes.py as a table."""
    assert shapes.matches(text, stored) is attempt


def test_a_password_shape() -> None:
    """Runs of classes and the length: what is stored beside the hash."""
    assert shapes.shape("ld2602") == "a9:6"
    assert shapes.shape("spring-2026") == "a-9:11"
    assert shapes.shape("密码2026") == "文9:6"


async def test_telegram_menu_and_help_come_from_the_table(database_url: str) -> None:
    """setMyCommands gets the table's menu rows, in order; /help lists the table's commands
    (an admin's too, for an admin) and the readers' fingerprint notice."""
    async with running_bot(database_url, ADMIN) as (fake, _):
        [menu] = [params for method, params in fake.calls if method == "setMyCommands"]
        names = [entry["command"] for entry in json.loads(menu["commands"])]
        assert names == [row.name for row in COMMANDS if row.menu]
        fake.user_says(ALICE, "/help")
        fake.user_says(ADMIN, "/help")
        await until(lambda: bool(fake.inbox.get(ALICE)) and bool(fake.inbox.get(ADMIN)))
    assert "/ask 问题 向存档提问" in fake.inbox[ALICE][0] and "/stats" not in fake.inbox[ALICE][0]
    assert "/stats" in fake.inbox[ADMIN][0] and "/closure_add" in fake.inbox[ADMIN][0]
