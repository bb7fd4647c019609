"""The command table: every command of every channel, one row each, in the order help lists
them. Telegram registers its handlers, its command menu and /help from it; WeChat's words and
the console's lines are routed through it (router.py); help and usage are spelled from it for
each channel (words.py). Adding a command is one row here and its use case (docs/commands.md).
"""

from __future__ import annotations

from digests.commands import admins as a
from digests.commands import readers as r
from digests.commands import words
from digests.commands.call import Call, ChatChannel
from digests.commands.row import Command
from digests.replies import Reply


async def _help(call: Call) -> Reply:
    """/help, 帮助: this channel's commands (an admin's too, for an admin)."""
    return Reply(
        words.help_text(COMMANDS, call.channel, admin=call.admin) + call.hooks.help_lines()
    )


COMMANDS: tuple[Command, ...] = (
    # readers
    Command("latest", r.latest, "最新摘要", ("最新",), menu=True, opens=True),
    Command("digests", r.recent, "最近 10 篇", ("往期",), menu=True),
    Command(
        "search",
        r.search,
        "搜索文章与摘要",
        ("搜索",),
        "词语",
        example="液冷",
        menu=True,
        needs_args=True,
    ),
    Command("ask", r.ask, "向存档提问", ("问",), "问题", example="为什么看好液冷？", menu=True),
    Command("unlock", r.unlock, "解锁会员期", ("解锁",), "密码", menu=True, needs_args=True),
    Command(
        "redeem",
        r.redeem,
        "兑换会员期（也可直接发送兑换码）",
        ("兑换",),
        "兑换码",
        menu=True,
        needs_args=True,
    ),
    Command("status", r.status, "我的会员期与设置", ("状态",), menu=True),
    Command("settings", r.settings, "推送方式与提醒", ("设置",), menu=True, also=("set",)),
    Command("calendar", r.calendar, "未来 7 天日历", ("日历",), menu=True),
    Command("calendar_reset", r.calendar_reset, "更换日历订阅地址", ("重置日历",)),
    Command("remind", r.remind, "事件提醒", ("提醒",), "on|off", wechat_args="开/关", menu=True),
    Command(
        "watch", r.watch, "关注个股或板块（最多 50 个）", ("关注",), "名称", menu=True, glued=True
    ),
    Command("unwatch", r.unwatch, "取消关注", ("取消关注",), "名称", glued=True),
    Command("watchlist", r.watchlist, "我的关注", ("我的关注",), menu=True),
    Command(
        "stock",
        r.stock,
        "个股时间线",
        ("个股",),
        "名称",
        example="天孚通信",
        menu=True,
        glued=True,
        needs_args=True,
    ),
    Command("start", r.start, "重新订阅", ("订阅", "开始")),
    Command("stop", r.stop, "退订", ("退订",), menu=True),
    Command("help", _help, "帮助", ("帮助", "help", "?", "？", "菜单"), menu=True),
    Command("open", r.open_publication, "打开一篇摘要", ("阅读",), "编号", button=True, opens=True),
    # admins
    Command(
        "post",
        a.post,
        "发文章：文本或网址（也可直接发送）",
        ("投稿",),
        "文本或网址",
        admin=True,
        needs_args=True,
    ),
    Command("publish", a.publish, "发布", ("发布",), "SLUG [--again]", admin=True, needs_args=True),
    Command(
        "regen",
        a.regenerate,
        "重新生成摘要",
        ("重新生成",),
        "SLUG",
        admin=True,
        button=True,
        needs_args=True,
    ),
    Command(  # 重新生成 of an edited digest, confirmed (digests/review/)
        "regen_edit",
        a.regenerate_edited,
        "重新生成并替换管理员的修改",
        ("仍然重新生成",),
        "SLUG",
        admin=True,
        button=True,
        needs_args=True,
    ),
    Command(  # Telegram's 编辑: the reply to its text replaces the digest; WeChat's: the page
        "edit",
        a.edit,
        "以文本编辑摘要",
        ("编辑",),
        "SLUG",
        admin=True,
        button=True,
        needs_args=True,
    ),
    Command(
        "discard",
        a.discard,
        "丢弃未发布的文章",
        ("丢弃",),
        "SLUG",
        admin=True,
        button=True,
        needs_args=True,
    ),
    Command("passwords", a.passwords, "会员期密码", ("密码列表",), admin=True),
    Command(
        "password_add",
        a.password_add,
        "添加会员期密码",
        ("添加密码",),
        "密码 YYYY-MM-DD YYYY-MM-DD [标签]",
        admin=True,
    ),
    Command(
        "password_remove",
        a.password_remove,
        "删除会员期密码",
        ("删除密码",),
        "标签",
        admin=True,
        needs_args=True,
    ),
    Command("codes", a.codes, "兑换码批次", ("兑换码批次",), admin=True),
    Command("revoke", a.revoke, "收回读者的会员期", ("收回",), "读者", admin=True),
    Command("readers", a.readers, "查找读者", ("查找读者",), "查询", admin=True),
    Command("subscribers", a.subscribers, "订阅者人数", ("订阅者",), admin=True),
    Command("stats", a.stats, "投递、LLM 与读者统计（附图表）", ("统计",), admin=True),
    Command("broadcast", a.broadcast, "广播（确认后发送）", ("广播",), "文本", admin=True),
    Command(
        "bcast",
        a.confirm_broadcast,
        "确认广播",
        ("确认广播",),
        "编号",
        admin=True,
        button=True,
        needs_args=True,
    ),
    Command("events", a.events, "待办事件", ("事件列表",), admin=True),
    Command(
        "event_add",
        a.event_add,
        "添加事件",
        ("添加事件",),
        "YYYY-MM-DD [HH:MM] 标题 [重要性1-3]",
        admin=True,
    ),
    Command("event_cancel", a.event_cancel, "取消事件", ("取消事件",), "ID", admin=True),
    Command(
        "evok",
        a.event_confirm,
        "确认事件",
        ("确认事件",),
        "ID",
        admin=True,
        button=True,
        needs_args=True,
    ),
    Command(
        "evno",
        a.event_cancel,
        "忽略事件",
        ("忽略事件",),
        "ID",
        admin=True,
        button=True,
        needs_args=True,
    ),
    Command("closures", a.closures, "A股休市", ("休市列表",), admin=True),
    Command(
        "closure_add", a.closure_add, "添加休市", ("添加休市",), "起始日 [结束日] 名称", admin=True
    ),
    Command(
        "closure_remove", a.closure_remove, "取消休市", ("取消休市",), "起始日 [结束日]", admin=True
    ),
)
ADMIN_ONLY = frozenset(c.name for c in COMMANDS if c.admin)
_BY_NAME = {name: c for c in COMMANDS for name in (c.name, *c.also)}
_BY_WORD = {word: c for c in COMMANDS for word in c.wechat}
_WORDS_LONGEST_FIRST = sorted(_BY_WORD, key=len, reverse=True)


def by_name(name: str) -> Command | None:
    """The row of a command or button name (/latest, open:12), whatever its case."""
    return _BY_NAME.get(name.lower())


def find(channel: ChatChannel, text: str) -> tuple[Command, str] | None:
    """The command a message starts with on `channel`, and the words after it; None for a
    message that is no command (a password, a code, a post, small talk)."""
    text = text.strip()
    if channel is ChatChannel.WECHAT:
        return _wechat(text)
    if not text.startswith("/"):
        return None
    head, _, rest = text.partition(" ")
    name = head[1:].split("@")[0]  # /latest@digest_bot in a group
    found = by_name(name)
    return (found, rest.strip()) if found is not None else None


def _wechat(text: str) -> tuple[Command, str] | None:
    head, _, rest = text.partition(" ")
    if head in _BY_WORD:
        return _BY_WORD[head], rest.strip()
    for word in _WORDS_LONGEST_FIRST:  # 关注天孚通信: a word run into its argument
        found = _BY_WORD[word]
        if found.glued and text.startswith(word):
            return found, text.removeprefix(word).strip()
    return None


def action(data: str) -> tuple[Command, str] | None:
    """A button's data (open:12, publish:SLUG) → its row and value; None if unknown."""
    name, sep, value = data.partition(":")
    found = by_name(name) if sep else None
    return (found, value) if found is not None else None
