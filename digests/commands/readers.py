"""The readers' commands as use cases of a Call: each maps the words after the command to one
use case of digests/ and returns its Reply, the same on every channel."""

from __future__ import annotations

import re

from digests.archive import ask as archive_ask
from digests.archive import search as archive_search
from digests.calendar import commands as calendar_commands
from digests.commands.call import Call, ChatChannel
from digests.readers import account, codes, passwords, reading
from digests.replies import Reply, command
from digests.watch import lists, timeline

# settings' choices: what the buttons (and WeChat's words) carry → (delivery, reminders)
SETTINGS = {
    "即时": ("instant", None),
    "合集": ("edition", None),
    "提醒开": (None, True),
    "提醒关": (None, False),
}
_SETTINGS_OLD = {  # the data of buttons sent before the command table
    "instant": "即时",
    "edition": "合集",
    "remind-on": "提醒开",
    "remind-off": "提醒关",
    "remind on": "提醒开",
    "remind off": "提醒关",
}
_SETTINGS_LABELS = (
    ("即时推送", "即时"),
    ("只收合集", "合集"),
    ("提醒：开", "提醒开"),
    ("提醒：关", "提醒关"),
)


async def start(call: Call) -> Reply:
    """/start, 订阅: (re)subscribe and ask for the password."""
    reader = call.reader
    _, reply = await account.register(
        call.store,
        channel=reader.channel,
        external_id=reader.external_id,
        name=reader.name,
        username=reader.username,
    )
    return reply


async def unlock(call: Call) -> Reply:
    return await passwords.unlock(call.store, call.reader, call.rest)


async def redeem(call: Call) -> Reply:
    return await codes.redeem(call.store, call.reader, call.rest)


async def latest(call: Call) -> Reply:
    return await reading.latest(call.store, call.reader)


async def recent(call: Call) -> Reply:
    """/digests, 往期: the last 10 publications, each opened by a button (on WeChat, a word)."""
    return await reading.recent(call.store, call.reader)


async def open_publication(call: Call) -> Reply:
    """A button of the list (open:ID), or 阅读 ID."""
    number = call.rest.strip().lstrip("#")
    if not number.isdigit():
        return Reply("找不到这篇摘要。")
    return await reading.open_publication(call.store, call.reader, int(number))


async def search(call: Call) -> Reply:
    width = 30 if call.channel is ChatChannel.WECHAT else None  # WeChat's lines are narrower
    if width is None:
        return await archive_search.search(call.store, call.reader, call.rest)
    return await archive_search.search(call.store, call.reader, call.rest, width=width)


async def ask(call: Call) -> Reply:
    """/ask, 问: the LLM may take longer than WeChat waits (its endpoint follows up)."""
    archive = archive_ask.AskContext(call.store, call.ctx.digests.llm, call.ask_limit)
    return await archive_ask.ask(archive, call.reader, call.rest)


async def status(call: Call) -> Reply:
    return await account.status(call.store, call.reader)


async def settings(call: Call) -> Reply:
    """/settings, 设置: the choices; with one (a button, or 设置 即时), it is applied."""
    choice = call.rest.strip().replace(" ", "")
    choice = _SETTINGS_OLD.get(call.rest.strip(), choice)
    if choice not in SETTINGS:
        choices = [(label, f"settings:{value}") for label, value in _SETTINGS_LABELS]
        return Reply("选择推送方式与提醒：", choices=choices)
    delivery, reminders = SETTINGS[choice]
    await account.update_settings(call.store, call.reader, delivery=delivery, reminders=reminders)
    return Reply("设置已更新。")


async def stop(call: Call) -> Reply:
    """/stop, 退订 (a Telegram Stars renewal ends with the subscription)."""
    ended = await call.hooks.access_ended(call.reader)
    await account.update_settings(call.store, call.reader, status="stopped")
    note = f"\n{ended}" if ended else ""
    return Reply(f"已退订。发送 {command('start')} 可重新订阅。{note}")


async def calendar(call: Call) -> Reply:
    return await calendar_commands.calendar(call.store, call.reader, base_url=call.base_url)


async def calendar_reset(call: Call) -> Reply:
    return await calendar_commands.calendar_reset(call.store, call.reader, base_url=call.base_url)


async def remind(call: Call) -> Reply:
    return await calendar_commands.remind(call.store, call.reader, call.rest)


async def watch(call: Call) -> Reply:
    return await lists.watch(call.store, call.reader, call.rest)


async def unwatch(call: Call) -> Reply:
    return await lists.unwatch(call.store, call.reader, call.rest)


async def watchlist(call: Call) -> Reply:
    return await lists.watchlist(call.store, call.reader)


async def stock(call: Call) -> Reply:
    """/stock 名称 [页码], 个股 名称 [页码]; a 更多 button sent before pages had numbers
    carries OFFSET:名称."""
    rest = call.rest.strip()
    if re.match(r"\d+:", rest):
        offset, name = timeline.more_args(rest)
        return await timeline.timeline(call.store, call.reader, name, offset=offset)
    name, page = timeline.page_args(rest)
    return await timeline.timeline(call.store, call.reader, name, offset=(page - 1) * timeline.PAGE)
