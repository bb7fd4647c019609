"""Commands, the same on every channel: the table (table.py), the router every channel's plain
text goes through (router.py), and the table spelled per channel (words.py)."""

from __future__ import annotations

from collections.abc import Iterable

from digests.commands import words
from digests.commands.call import Call, ChatChannel, Hooks, NoHooks
from digests.commands.router import ADMINS_ONLY, press, route_text, run
from digests.commands.row import Command
from digests.commands.table import ADMIN_ONLY, COMMANDS, action, by_name, find
from digests.replies import Reply

__all__ = [
    "ADMINS_ONLY",
    "ADMIN_ONLY",
    "COMMANDS",
    "Call",
    "ChatChannel",
    "Command",
    "Hooks",
    "NoHooks",
    "action",
    "by_name",
    "find",
    "help_text",
    "press",
    "route_text",
    "run",
    "spell",
    "spelled",
]


def help_text(
    channel: ChatChannel, *, admin: bool = False, rows: Iterable[Command] = COMMANDS
) -> str:
    """The channel's help (words.help_text over the table)."""
    return words.help_text(rows, channel, admin=admin)


def spell(text: str, channel: ChatChannel) -> str:
    """A text's command marks as `channel`'s readers type them."""
    return words.spell(text, channel, COMMANDS)


def spelled(reply: Reply, channel: ChatChannel) -> Reply:
    """A reply ready for `channel`: commands spelled, buttons as words where there are none."""
    return words.spelled(reply, channel, COMMANDS)
