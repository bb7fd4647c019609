"""Chinese text commands of the Official Account, mapped to the same use cases as Telegram's:
帮助, 解锁 密码 (or the password alone after following), 兑换 CODE (or the code alone), 最新,
日历, 提醒 开/关, 状态, 退订, the watchlist words (bot/wechat/watch_commands.py), and 发布 SLUG
[--again] for WECHAT_ADMIN_OPENIDS; a follow event welcomes, an unfollow marks the subscriber
gone."""

from __future__ import annotations

from bot.wechat import watch_commands
from bot.wechat.sender import touch
from digests import fingerprint, render
from digests.archive import ask, search
from digests.calendar import commands as calendar
from digests.errors import DigestbotError
from digests.models import Subscriber, utcnow
from digests.outbox.dispatcher import wake_waiting
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import account, codes, pagelinks, passwords, reading
from digests.replies import Reply, StoreContext
from digests.review import links
from digests.summarize import digesting

HELP = "\n".join(
    (
        "发送以下文字：",
        "最新 —— 最新摘要",
        "搜索 词语 —— 搜索文章与摘要",
        "问 问题 —— 向存档提问",
        "解锁 密码 —— 解锁本期会员",
        "兑换 兑换码 —— 兑换会员期（也可直接发送兑换码）",
        "日历 —— 未来 7 天事件",
        "提醒 开 / 提醒 关 —— 事件提醒",
        *watch_commands.HELP_LINES,
        "状态 —— 我的会员期",
        "退订 —— 不再接收",
        "帮助 —— 本说明",
        "",
        fingerprint.NOTICE,  # readers are told their copies are marked
    )
)
WELCOME = "欢迎关注投研摘要！会员文章的摘要需要本月密码：直接回复密码即可解锁。\n\n" + HELP
MORE = "\n……（篇幅所限，仅显示前半部分）"
SEARCH_USAGE = "用法：搜索 词语（如 搜索 液冷）"


async def on_follow(ctx: StoreContext, openid: str) -> str:
    """subscribe event: (re)register and welcome."""
    reader, _ = await account.register(ctx, channel="wechat", external_id=openid)
    await contact(ctx, reader)
    return WELCOME


async def contact(ctx: StoreContext, reader: Subscriber) -> None:
    """The reader wrote to us: a new 48-hour window and 5 replies, and what waited for them
    is due now."""
    await touch(ctx, reader.id or 0)
    await wake_waiting(ctx, reader.id or 0)


async def on_unfollow(ctx: StoreContext, openid: str) -> None:
    """unsubscribe event: the subscriber is gone; nothing more is sent to them."""
    reader = await _reader(ctx, openid)
    await account.update_settings(ctx, reader, status="gone")


async def on_text(
    actx: AdminContext,
    openid: str,
    text: str,
    *,
    base_url: str,
    admins: list[str],
    page_secret: bytes | None = None,
    ask_limit: int = 20,
    fingerprint_key: bytes | None = None,
) -> str:
    """One text message → the reply text (a passive reply: one message, ≤ 2000 bytes); a
    digest's first part ends with the link to its whole page when `page_secret` is given."""
    ctx = actx.store
    reader = await _reader(ctx, openid)
    await contact(ctx, reader)
    word, _, rest = text.strip().partition(" ")
    rest = rest.strip()
    if word in ("帮助", "help", "?", "？"):
        reply = Reply(HELP)
    elif word == "解锁" and rest:
        reply = await passwords.unlock(ctx, reader, rest)
    elif word == "兑换" and rest:
        reply = await codes.redeem(ctx, reader, rest)
    elif word == "最新":
        reply = await reading.latest(ctx, reader)
    elif word == "搜索":
        reply = await search.search(ctx, reader, rest, width=30) if rest else Reply(SEARCH_USAGE)
    elif word == "问":  # the LLM may take longer than WeChat waits: the endpoint follows up
        archive = ask.AskContext(ctx, actx.digests.llm, ask_limit)
        reply = await ask.ask(archive, reader, rest)
    elif word == "日历":
        reply = await calendar.calendar(ctx, reader, base_url=base_url)
    elif word == "提醒":
        reply = await calendar.remind(ctx, reader, rest)
    elif word == "状态":
        reply = await account.status(ctx, reader)
    elif word == "发布" and rest:  # may take a while (the LLM): the callback follows up
        if openid in admins:
            slug, again = publish.publish_args(rest)
            reply = await publish.publish_post(actx, slug, by=f"wechat:{openid}", again=again)
            if page_secret is not None:  # a fix: the review page, then 发布 there
                reply.text += await review_note(actx, slug, openid, page_secret, base_url)
        else:
            reply = Reply("此命令仅限管理员。")
    elif word == "退订":
        await account.update_settings(ctx, reader, status="stopped")
        reply = Reply("已退订。回复「帮助」可重新开始。")
    elif codes.looks_like_code(text):  # the code alone, spaces between groups allowed
        reply = await codes.redeem(ctx, reader, text)
    elif (watched := await watch_commands.handle(ctx, reader, word, rest)) is not None:
        reply = watched
    elif reader.awaiting_password and not rest:
        reply = await passwords.unlock(ctx, reader, word)
    else:
        reply = Reply(HELP)
    shown = reply.digest
    mark = None
    if shown is not None and fingerprint_key is not None:  # this reader's copy is marked
        medium = fingerprint.Medium.MESSAGE
        mark = fingerprint.mark_for(fingerprint_key, "wechat", openid, shown.publication_id, medium)
    if shown is None or page_secret is None:
        return as_text(reply, mark=mark)
    link = pagelinks.link(page_secret, base_url, reader.id or 0, shown.publication_id)
    return as_text(reply, link, mark=mark)


async def review_note(
    actx: AdminContext, slug: str, openid: str, page_secret: bytes, base_url: str
) -> str:
    """The admin's 15-minute review link to the post (nothing for a slug that is not one)."""
    try:
        post = await digesting.find_post(actx.digests, slug)
    except DigestbotError:
        return ""
    secret = links.review_secret(page_secret)
    link = links.link(secret, base_url, f"wechat:{openid}", post.id or 0, utcnow())
    return f"\n审阅与修改（15 分钟内有效）：{link}"


def as_text(reply: Reply, link: str = "", *, mark: fingerprint.Mark | None = None) -> str:
    """Plain text within WeChat's limit: the text, then the digest's first part, then the
    link to its whole page (never cut off); with a reader's `mark` in its lines."""
    parts = [reply.text] if reply.text else []
    if reply.digest is not None:
        shown = reply.digest
        pieces = render.wechat_text(
            shown.digest,
            title=shown.title,
            extractive=shown.extractive,
            disclaimer=shown.disclaimer,
        )
        parts.append(pieces[0] + (MORE if len(pieces) > 1 else ""))
    text = "\n".join(parts).replace("/unlock 密码", "解锁 密码")
    tail = f"\n全文：{link}" if link else ""
    if mark is not None:
        return (
            fingerprint.within_utf8(text, mark, render.WECHAT_LIMIT - len(tail.encode()), MORE)
            + tail
        )
    return render.clip_utf8(text, render.WECHAT_LIMIT - len(tail.encode()), MORE) + tail


async def _reader(ctx: StoreContext, openid: str) -> Subscriber:
    """The follower's subscriber row (registered now if they followed before the bot ran)."""
    async with ctx.sessions() as session:
        found = await account.get_subscriber(session, channel="wechat", external_id=openid)
    if found is None:
        found, _ = await account.register(ctx, channel="wechat", external_id=openid)
    return found
