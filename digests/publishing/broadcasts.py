"""The admin's broadcast: a text stored and shown for confirmation, then queued once for every
active subscriber (the outbox's broadcast kind sends it)."""

from __future__ import annotations

from digests.models import Broadcast
from digests.outbox.enqueue import queue_broadcast
from digests.publishing.context import AdminContext
from digests.replies import Reply, command


async def prepare_broadcast(ctx: AdminContext, text: str, *, by: str) -> Reply:
    """/broadcast: store the text and ask for confirmation; nothing is sent yet."""
    if not text.strip():
        return Reply(f"用法：{command('broadcast', '文本')}")
    async with ctx.store.sessions() as session, session.begin():
        broadcast = Broadcast(text=text.strip(), created_by=by)
        session.add(broadcast)
    return Reply(
        f"将发给所有活跃订阅者：\n\n{broadcast.text}",
        choices=[("确认发送", f"bcast:{broadcast.id}")],
    )


async def confirm_broadcast(ctx: AdminContext, broadcast_id: int) -> Reply:
    """确认发送: queue the broadcast once for every active subscriber."""
    queued = await queue_broadcast(ctx.store, broadcast_id)
    if queued is None:
        return Reply("这条广播已经发送过或不存在。")
    return Reply(f"广播已排队：{queued} 人。")
