"""A row of the command table (table.py): everything a channel needs to offer one command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from digests.commands.call import Call, ChatChannel
from digests.replies import Reply

UseCase = Callable[[Call], Awaitable[Reply]]


@dataclass(frozen=True)
class Command:
    """One command: its name (Telegram's and the console's command, and the prefix of its
    buttons' data), the words WeChat readers send, who may use it, what help says of it, and
    the use case that answers it."""

    name: str
    run: UseCase
    summary: str  # help's and Telegram's menu line: what it does
    wechat: tuple[str, ...] = ()  # WeChat's words, the first one shown; () = not on WeChat
    args: str = ""  # what follows the command in help and usage ("问题")
    wechat_args: str | None = None  # when WeChat's differ (提醒 开/关 for /remind on|off)
    example: str = ""  # usage's example arguments ("液冷")
    admin: bool = False  # refused to anyone else, hidden from their help
    needs_args: bool = False  # without arguments: the usage, not the use case
    menu: bool = False  # in Telegram's command menu (set_my_commands)
    button: bool = False  # the action behind a button: neither in help nor in the menu
    glued: bool = False  # WeChat: the word may run into its argument (关注天孚通信)
    opens: bool = False  # a digest it shows counts in the readership as an open
    also: tuple[str, ...] = ()  # other names it answers to (the data of buttons sent earlier)

    def word(self, channel: ChatChannel) -> str:
        """The command as a reader of `channel` types it: /search, 搜索."""
        if channel is ChatChannel.WECHAT:
            return self.wechat[0] if self.wechat else ""
        return f"/{self.name}"

    def arguments(self, channel: ChatChannel) -> str:
        """Its arguments as help shows them on `channel`."""
        if channel is ChatChannel.WECHAT and self.wechat_args is not None:
            return self.wechat_args
        return self.args

    def usage(self, channel: ChatChannel) -> str:
        """用法：搜索 词语（如 搜索 液冷）, spelled for `channel`."""
        word = self.word(channel)
        text = f"用法：{word} {self.arguments(channel)}".rstrip()
        if self.example:
            text += f"（如 {word} {self.example}）"
        return text

    def on(self, channel: ChatChannel) -> bool:
        """Whether readers of `channel` can send it (every command is on Telegram and the
        console; WeChat has those with words)."""
        return channel is not ChatChannel.WECHAT or bool(self.wechat)
