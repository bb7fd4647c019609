"""One command as a channel hands it over: who asked, on which channel, with what words after
the command; and the few things only the channel can do (Hooks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from digests.models import Subscriber
from digests.publishing.context import AdminContext
from digests.replies import StoreContext


class ChatChannel(StrEnum):
    """A channel readers talk to the bot on (WeCom robots only listen)."""

    TELEGRAM = "telegram"
    WECHAT = "wechat"
    CONSOLE = "console"


class Hooks(Protocol):
    """What a use case asks of the channel it runs on."""

    async def access_ended(self, reader: Subscriber) -> str:
        """A reader stopped or was revoked: end what the channel bills them for (a Telegram
        Stars renewal); a line for the answer, or ""."""

    async def queued(self) -> None:
        """Deliveries were just queued (a publication, a broadcast): send them soon."""

    def help_lines(self) -> str:
        """Lines the channel adds to the help (Telegram's Stars commands), or ""."""


class NoHooks:
    """A channel with nothing of its own to do: the leader's delivery tick sends the queue."""

    async def access_ended(self, reader: Subscriber) -> str:
        return ""

    async def queued(self) -> None:
        return None

    def help_lines(self) -> str:
        return ""


@dataclass
class Call:
    """A command to run: the reader (registered on first contact), the words after the
    command, whether the caller is an admin, and who they are for the record (`by`)."""

    ctx: AdminContext
    channel: ChatChannel
    reader: Subscriber
    rest: str = ""
    admin: bool = False
    by: str = ""  # "telegram:1000", "wechat:o-…", "console": who published, closed a day
    ask_limit: int = 20  # ASK_DAILY_LIMIT
    base_url: str = ""  # PUBLIC_BASE_URL: calendar feeds
    hooks: Hooks = field(default_factory=NoHooks)

    @property
    def store(self) -> StoreContext:
        return self.ctx.store
