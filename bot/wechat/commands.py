"""The Official Account's text messages, through the command table (digests/commands/) like
every channel: the words of each row (最新, 往期, 设置, 问 问题, 统计 …), a code or the
password alone, an admin's post (WECHAT_ADMIN_OPENIDS), otherwise the help. Replies are
spelled for WeChat (no /command, buttons as words to send). A follow event welcomes, an
unfollow marks the subscriber gone."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.wechat.sender import touch
from digests import commands, fingerprint, render
from digests.commands import Call, ChatChannel
from digests.errors import DigestbotError
from digests.models import Subscriber, utcnow
from digests.outbox.dispatcher import wake_waiting
from digests.outbox.types import sent_hash
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import account, pagelinks
from digests.readership import audit
from digests.replies import Reply, StoreContext
from digests.review import links
from digests.summarize import digesting

WELCOME = "欢迎关注投研摘要！会员文章的摘要需要本月密码：直接回复密码即可解锁。\n\n"
MORE = "\n……（篇幅所限，仅显示前半部分）"


@dataclass
class Answer:
    """What a message gets: the passive reply's text, and a picture to follow as a
    customer-service message (the admin's chart)."""

    text: str
    image: bytes | None = None


def help_text() -> str:
    """The readers' words (what a message the bot cannot read gets)."""
    return commands.help_text(ChatChannel.WECHAT)


async def on_follow(ctx: StoreContext, openid: str) -> str:
    """subscribe event: (re)register and welcome."""
    reader, _ = await account.register(ctx, channel="wechat", external_id=openid)
    await contact(ctx, reader)
    return WELCOME + help_text()


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
) -> Answer:
    """One text message → the answer (a passive reply: one message, ≤ 2000 bytes); a digest's
    first part ends with the link to its whole page when `page_secret` is given, carries the
    reader's fingerprint, and is kept in the audit record."""
    ctx = actx.store
    reader = await _reader(ctx, openid)
    await contact(ctx, reader)
    call = Call(
        ctx=actx,
        channel=ChatChannel.WECHAT,
        reader=reader,
        admin=openid in admins,
        by=f"wechat:{openid}",
        ask_limit=ask_limit,
        base_url=base_url,
    )
    reply = await commands.route_text(call, text)
    if call.admin and page_secret is not None:  # a preview or 发布: the admin's review link
        reply = await with_review_link(actx, reply, text, openid, page_secret, base_url)
    shown = reply.digest
    mark, link = None, ""
    if shown is not None and shown.publication_id and fingerprint_key is not None:
        medium = fingerprint.Medium.MESSAGE
        mark = fingerprint.mark_for(fingerprint_key, "wechat", openid, shown.publication_id, medium)
    if shown is not None and shown.publication_id and page_secret is not None:
        link = pagelinks.link(page_secret, base_url, reader.id or 0, shown.publication_id)
    answer = as_text(reply, link, mark=mark)
    if reply.views:
        await audit.record_reply(
            ctx,
            subscriber_id=reader.id or 0,
            channel="wechat",
            publication_ids=[view.publication_id for view in reply.views],
            content_sha256=sent_hash([answer]),
        )
    return Answer(answer, reply.image)


async def with_review_link(
    actx: AdminContext, reply: Reply, text: str, openid: str, page_secret: bytes, base_url: str
) -> Reply:
    """An admin's preview (its 发布 choice), 发布 or 编辑 answer with a 15-minute link to the post's
    review page, for that admin; any other reply as it is."""
    slug = next((a.partition(":")[2] for _, a in reply.choices if a.startswith("publish:")), "")
    found = commands.find(ChatChannel.WECHAT, text)
    if not slug and found is not None and found[0].name == "publish":
        slug = publish.publish_args(found[1])[0]
    if not slug and found is not None and found[0].name == "edit":
        slug = found[1].strip()
    try:
        post = await digesting.find_post(actx.digests, slug) if slug else None
    except DigestbotError:
        post = None
    if post is None:
        return reply
    secret = links.review_secret(page_secret)
    link = links.link(secret, base_url, f"wechat:{openid}", post.id or 0, utcnow())
    return replace(reply, text=f"{reply.text}\n审阅与修改（15 分钟内有效）：{link}")


def as_text(reply: Reply, link: str = "", *, mark: fingerprint.Mark | None = None) -> str:
    """Plain text within WeChat's limit: the text (spelled for WeChat), then the digest's
    first part, then the link to its whole page (never cut off); with a reader's `mark` in
    its lines."""
    reply = commands.spelled(reply, ChatChannel.WECHAT)
    parts = [t for t in (reply.lead, reply.text) if t]
    if reply.digest is not None:
        shown = reply.digest
        pieces = render.wechat_text(
            shown.digest,
            title=shown.title,
            extractive=shown.extractive,
            disclaimer=shown.disclaimer,
        )
        parts.append(pieces[0] + (MORE if len(pieces) > 1 else ""))
    text = "\n".join(parts)
    tail = f"\n全文：{link}" if link else ""
    room = render.WECHAT_LIMIT - len(tail.encode())
    if mark is not None:
        return fingerprint.within_utf8(text, mark, room, MORE) + tail
    return render.clip_utf8(text, room, MORE) + tail


async def _reader(ctx: StoreContext, openid: str) -> Subscriber:
    """The follower's subscriber row (registered now if they followed before the bot ran)."""
    async with ctx.sessions() as session:
        found = await account.get_subscriber(session, channel="wechat", external_id=openid)
    if found is None:
        found, _ = await account.register(ctx, channel="wechat", external_id=openid)
    return found
