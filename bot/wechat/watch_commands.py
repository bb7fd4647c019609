"""WeChat words for watchlists (digests/watch/): 关注 名称, 取消关注 名称, 我的关注, and
个股 名称 [页码] (a text reply has no buttons: the next page is asked for by number)."""

from __future__ import annotations

from dataclasses import replace

from digests.models import Subscriber
from digests.replies import Reply, StoreContext
from digests.watch import lists, timeline

HELP_LINES = (
    "关注 名称 —— 关注个股或板块（最多 50 个）",
    "取消关注 名称 —— 取消关注",
    "我的关注 —— 关注列表",
    "个股 名称 —— 个股时间线",
)
# Telegram's command words in the shared replies → the words a WeChat reader sends
_WORDS = (
    ("/watchlist", "我的关注"),
    ("/unwatch 名称", "取消关注 名称"),
    ("/watch 名称", "关注 名称"),
    ("/stock 名称", "个股 名称"),
    ("/watch", "关注"),
)


async def handle(ctx: StoreContext, reader: Subscriber, word: str, rest: str) -> Reply | None:
    """The reply to a watchlist word; None when the message is not one."""
    for prefix in ("取消关注", "关注", "个股"):  # 关注天孚通信, without the space, too
        if word.startswith(prefix) and word != prefix:
            word, rest = prefix, f"{word.removeprefix(prefix)} {rest}".strip()
            break
    if word == "关注":
        reply = await lists.watch(ctx, reader, rest)
    elif word == "取消关注":
        reply = await lists.unwatch(ctx, reader, rest)
    elif word == "我的关注":
        reply = await lists.watchlist(ctx, reader)
    elif word == "个股":
        name, page = _page(rest)
        reply = await timeline.timeline(ctx, reader, name, offset=(page - 1) * timeline.PAGE)
        if reply.choices:
            more = f"\n回复「个股 {name} {page + 1}」查看更多。"
            reply = replace(reply, text=reply.text + more, choices=[])
    else:
        return None
    text = reply.text
    for telegram, wechat in _WORDS:
        text = text.replace(telegram, wechat)
    return replace(reply, text=text)


def _page(rest: str) -> tuple[str, int]:
    """`名称 2` → (名称, 2); a name alone is page 1."""
    name, _, last = rest.strip().rpartition(" ")
    if name and last.isdigit() and int(last) >= 1:
        return name, int(last)
    return rest.strip(), 1
