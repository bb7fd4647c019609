"""The table spelled for one channel: help, usage, the commands a reply's text names (the
marks of digests.replies.command) and, where a channel has no buttons, the words that do what
a button would. Nothing here patches one channel's text into another's: every spelling comes
from the rows."""

from __future__ import annotations

import re
from collections.abc import Iterable

from digests import fingerprint
from digests.commands.call import ChatChannel
from digests.commands.row import Command
from digests.replies import MARK_CLOSE, MARK_OPEN, OWN_ARGS, Reply

_MARK = re.compile(f"{MARK_OPEN}([a-z_]+)(?: ([^{MARK_CLOSE}]*))?{MARK_CLOSE}")


def help_text(rows: Iterable[Command], channel: ChatChannel, *, admin: bool) -> str:
    """The channel's help: a line per command readers may send, then the admins' for an
    admin, then the fingerprints notice."""
    shown = [row for row in rows if row.on(channel) and not row.button]
    lines = [_line(row, channel) for row in shown if not row.admin]
    if channel is ChatChannel.WECHAT:
        lines.insert(0, "发送以下文字：")
    if admin:
        lines += ["", "管理员：", *(_line(row, channel) for row in shown if row.admin)]
    return "\n".join([*lines, "", fingerprint.NOTICE])  # readers are told their copies are marked


def _line(row: Command, channel: ChatChannel) -> str:
    said = f"{row.word(channel)} {row.arguments(channel)}".rstrip()
    return f"{said} —— {row.summary}" if channel is ChatChannel.WECHAT else f"{said} {row.summary}"


def spell(text: str, channel: ChatChannel, rows: Iterable[Command]) -> str:
    """A reply's text with the commands it names as `channel`'s readers type them."""
    if MARK_OPEN not in text:
        return text
    named = {name: row for row in rows for name in (row.name, *row.also)}

    def one(found: re.Match[str]) -> str:
        row, args = named.get(found.group(1)), found.group(2) or ""
        if row is None or not row.on(channel):  # a command this channel lacks: its name
            return f"{found.group(1)} {args}".strip()
        if args == OWN_ARGS:
            args = row.arguments(channel)
        return f"{row.word(channel)} {args}".rstrip()

    return _MARK.sub(one, text)


def spelled(reply: Reply, channel: ChatChannel, rows: Iterable[Command]) -> Reply:
    """The reply with its text, lead and button labels spelled for `channel`; on WeChat,
    which has no buttons, each button becomes a line saying what to send instead."""
    rows = tuple(rows)
    text, lead = spell(reply.text, channel, rows), spell(reply.lead, channel, rows)
    choices = reply.choices
    if channel is ChatChannel.WECHAT and choices:
        text = "\n".join([text, *(_as_words(label, data, rows) for label, data in choices)])
        choices = []
    if (text, lead, choices) == (reply.text, reply.lead, reply.choices):
        return reply
    return Reply(
        text=text,
        digest=reply.digest,
        digests=reply.digests,
        choices=choices,
        lead=lead,
        delete_incoming=reply.delete_incoming,
        image=reply.image,
    )


def _as_words(label: str, data: str, rows: tuple[Command, ...]) -> str:
    name, _, value = data.partition(":")
    row = next((r for r in rows if name in (r.name, *r.also) and r.wechat), None)
    if row is None:
        return label
    return f"{label}：回复「{row.word(ChatChannel.WECHAT)} {value}」"
