"""The admin's review on Telegram: a preview offers 编辑 and a 15-minute link to the review
page; 编辑 (the table's `edit` row) sends the digest as compact plain text
(digests/review/plain.py) that the admin changes and sends back as a reply, which replaces the
digest as its next revision. A reply that cannot be read, or was made on an older revision, is
answered with the line and the reason; the digest stays as it was."""

from __future__ import annotations

import logging
from dataclasses import replace

from telegram import Message, Update
from telegram.ext import filters

from bot.container import Services
from bot.telegram.context import Context, answer, is_admin, services
from digests.errors import DigestbotError
from digests.publishing import drafts
from digests.replies import Reply
from digests.review import edit, links, plain
from digests.summarize import digesting

log = logging.getLogger(__name__)


class EditReply(filters.MessageFilter):
    """A reply to the text 编辑 sent."""

    def filter(self, message: Message) -> bool:
        replied = message.reply_to_message
        return replied is not None and (replied.text or "").startswith(plain.MARK)


async def offered(update: Update, context: Context, reply: Reply) -> Reply:
    """A preview (a reply with a 发布 button) with 编辑 and the review page's link added."""
    user = update.effective_user
    return reply if user is None else await for_admin(services(context), user.id, reply)


async def for_admin(s: Services, user_id: int, reply: Reply) -> Reply:
    """The preview as one admin gets it: 编辑, and a review link of their own."""
    slug = next((a.partition(":")[2] for _, a in reply.choices if a.startswith("publish:")), "")
    if not slug:
        return reply
    try:
        post = await digesting.find_post(s.digest_context(), slug)
        link = links.admin_link(s.settings, f"telegram:{user_id}", post.id or 0)
    except DigestbotError as exc:  # no secret to sign with: the button alone
        log.warning("no review link for %s: %s", slug, exc)
        link = ""
    note = f"\n审阅与修改（15 分钟内有效）：{link}" if link else ""
    return replace(
        reply, text=reply.text + note, choices=[*reply.choices, ("编辑", f"edit:{slug}")]
    )


async def on_edit_reply(update: Update, context: Context) -> None:
    """The admin's edited text: the next revision, then the new preview; else why not."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and message.reply_to_message is not None and user is not None
    if not is_admin(update, context):
        await answer(update, context, Reply("仅限管理员。"))
        return
    replying_to = message.reply_to_message.text or ""
    header = plain.read_header(replying_to)
    s = services(context)
    try:
        saved = await edit.submit_text(
            s.digest_context(),
            message.text or "",
            replying_to=replying_to,
            author=f"telegram:{user.id}",
        )
    except DigestbotError as exc:
        await answer(update, context, Reply(f"没有保存：{exc}\n摘要保持原样。"))
        return
    await answer(update, context, Reply(edit.saved_lines(saved)))
    slug = header.slug if header else ""
    preview = await drafts.preview(s.admin_context(), slug)
    await answer(update, context, await offered(update, context, preview))
