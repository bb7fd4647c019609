"""One router for every channel. A message is, in this order:

1. a command (/latest on Telegram and the console, 最新 on WeChat; table.find),
2. a redemption code alone (K7QD-M2XA-9HPW),
3. the password, from a reader asked for one, when the message is shaped like the admin's
   passwords (digests/readers/shapes.py): small talk never costs one of the five tries,
4. from an admin, the text 编辑 sent (it opens with its header), changed: that digest's edit,
5. from an admin, a post (a text or a URL) to preview,
6. anything else: the help.

A button's data (open:12, publish:SLUG) runs its row too (`press`). Admin-only rows are refused
to anyone else, a row without the arguments it needs answers its usage, and a digest a reader
opens (/latest, 最新, a button of the list) is counted in the readership.
"""

from __future__ import annotations

from dataclasses import replace

from digests.commands import admins, readers, table
from digests.commands.call import Call
from digests.commands.row import Command
from digests.errors import DigestbotError
from digests.readers import codes, shapes
from digests.readership import actions
from digests.replies import Reply
from digests.review import plain

ADMINS_ONLY = "此命令仅限管理员。"


async def run(row: Command, call: Call) -> Reply:
    """One row for one caller: refused, its usage, or its use case's reply."""
    if row.admin and not call.admin:
        return Reply(ADMINS_ONLY)
    if row.needs_args and not call.rest.strip():
        return Reply(row.usage(call.channel))
    try:
        reply = await row.run(call)
    except (DigestbotError, ValueError) as exc:  # bad input: a sentence, nothing lost
        return Reply(f"没能完成：{exc}")
    if row.opens:
        for shown in reply.views:  # a reader who may not read it opened nothing
            await actions.record(
                call.store,
                subscriber_id=call.reader.id or 0,
                publication_id=shown.publication_id,
                kind=actions.TAP,
            )
    return reply


async def route_text(call: Call, text: str) -> Reply:
    """A message as the reader typed it → the reply (see the module docstring)."""
    found = table.find(call.channel, text)
    if found is not None:
        row, rest = found
        return await run(row, replace(call, rest=rest))
    typed = text.strip()
    if codes.looks_like_code(typed):
        return await readers.redeem(replace(call, rest=typed))
    if call.reader.awaiting_password and await shapes.looks_like_password(call.store, typed):
        return await readers.unlock(replace(call, rest=typed))
    if call.admin and plain.read_header(typed) is not None:  # 编辑's text, sent back changed
        return await admins.revise(replace(call, rest=typed))
    post = table.by_name("post")
    if call.admin and post is not None and typed:
        return await run(post, replace(call, rest=typed))
    help_ = table.by_name("help")
    assert help_ is not None
    return await run(help_, call)


async def press(call: Call, data: str) -> Reply | None:
    """A button's data → its row's reply; None for data no row knows (handled elsewhere)."""
    found = table.action(data)
    if found is None:
        return None
    row, value = found
    return await run(row, replace(call, rest=value))
