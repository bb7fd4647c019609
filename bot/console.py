"""The console channel: a local subscriber (or admin) talking to the same command table as
Telegram and WeChat (digests/commands/), for `digestbot chat` and the offline `make demo`.
Command words are Telegram's; a button shows as [its data], and typing the data presses it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from digests import commands, fingerprint
from digests.commands import Call, ChatChannel
from digests.errors import DigestbotError
from digests.models import Subscriber
from digests.outbox.types import Reader, SendResult, sent_hash
from digests.publishing.context import AdminContext
from digests.readership import audit
from digests.render import plain_text
from digests.replies import Reply


def post_line(row: dict[str, Any]) -> str:
    """One post of `digestbot posts` / the demo: local time, gated mark, slug, title."""
    lock = "[gated]" if row["gated"] else "       "
    when = row["published_at"][:16].replace("T", " ")
    return f"{when}  {lock}  {row['slug']}  {row['title']}"


def show(reply: Reply, *, mark: fingerprint.Mark | None = None) -> str:
    """A reply as console text: its text, its digest (with a reader's `mark` in its lines),
    its buttons as [data] label."""
    reply = commands.spelled(reply, ChatChannel.CONSOLE)
    parts = [t for t in (reply.lead, reply.text) if t]
    for shown in reply.views:
        text = plain_text(
            shown.digest,
            title=shown.title,
            extractive=shown.extractive,
            disclaimer=shown.disclaimer,
        )
        parts.append(fingerprint.stamp(fingerprint.template(text), mark) if mark else text)
    parts += [f"  [{action}] {label}" for label, action in reply.choices]
    if reply.image is not None:  # a terminal shows no picture: say it is there
        parts.append(f"  [图表 PNG，{len(reply.image)} 字节]")
    return "\n".join(parts)


def mark_of(reply: Reply, key: bytes, user: str) -> fingerprint.Mark | None:
    """The console user's mark in a reply that carries digests (None otherwise)."""
    if not reply.views:
        return None
    medium = fingerprint.Medium.MESSAGE
    return fingerprint.mark_for(key, "console", user, reply.views[0].publication_id, medium)


@dataclass
class ConsoleChannel:
    """Collects what each console subscriber receives (the Channel protocol)."""

    name: str = "console"
    inbox: dict[str, list[str]] = field(default_factory=dict)
    key: bytes = field(default_factory=lambda: fingerprint.key(None))  # FINGERPRINT_SECRET's

    async def send(self, subscriber: Reader, reply: Reply) -> SendResult:
        text = show(reply, mark=mark_of(reply, self.key, subscriber.external_id))
        self.inbox.setdefault(subscriber.external_id, []).append(text)
        return SendResult("ok", content_sha256=sent_hash([text]))  # the record


async def handle(
    ctx: AdminContext, subscriber: Subscriber, line: str, *, is_admin: bool, ask_limit: int = 20
) -> Reply:
    """One line typed by a console user → the reply, through the command table (a button's
    data typed back, open:12, presses it)."""
    call = Call(
        ctx=ctx,
        channel=ChatChannel.CONSOLE,
        reader=subscriber,
        admin=is_admin,
        by="console",
        ask_limit=ask_limit,
    )
    try:
        pressed = await commands.press(call, line.strip()) if ":" in line.split(" ")[0] else None
        return pressed or await commands.route_text(call, line)
    except (DigestbotError, ValueError) as exc:
        return Reply(f"没能完成：{exc}")


async def answer(
    ctx: AdminContext,
    subscriber: Subscriber,
    line: str,
    *,
    is_admin: bool,
    ask_limit: int = 20,
    key: bytes = fingerprint.key(None),
) -> str:
    """`handle`, then the reply as the user sees it: a digest marked with their fingerprint
    and kept in the audit record, as every channel's copies are."""
    reply = await handle(ctx, subscriber, line, is_admin=is_admin, ask_limit=ask_limit)
    text = show(reply, mark=mark_of(reply, key, subscriber.external_id))
    if reply.views:
        await audit.record_reply(
            ctx.store,
            subscriber_id=subscriber.id or 0,
            channel="console",
            publication_ids=[shown.publication_id for shown in reply.views],
            content_sha256=sent_hash([text]),
        )
    return text
