"""The admin's use cases through the console channel, on SQLite and PostgreSQL: posting a note
with a preview, unique note slugs, a broadcast sent once after its confirmation."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.console import ConsoleChannel, handle
from digests.kinds import registry
from digests.outbox.dispatcher import send_queued
from digests.publishing import broadcasts, drafts, publish
from digests.publishing.context import AdminContext
from digests.replies import StoreContext
from tests.conftest import SHANGHAI, reader


async def test_admin_posts_text_previews_and_publishes(actx: AdminContext) -> None:
    """/post TEXT → stored, digested, preview with 发布/重新生成/丢弃; non-admins cannot."""
    alice = await reader(actx, "alice")
    text = "/post 盘后速递\n\n## 通信\n\n- 龙头天孚通信，小弟腾景科技\n\n美国CPI周五公布。"
    preview = await handle(actx, alice, text, is_admin=True)
    actions = [action for _, action in preview.choices]
    assert preview.digest is not None and actions[0].startswith("publish:")
    assert [label for label, _ in preview.choices] == ["发布", "重新生成", "丢弃"]
    slug = actions[0].removeprefix("publish:")
    refused = await handle(actx, alice, f"/publish {slug}", is_admin=False)
    assert "已发布" not in refused.text
    done = await handle(actx, alice, f"/publish {slug}", is_admin=True)
    assert "已发布《盘后速递》" in done.text
    stats = await handle(actx, alice, "/stats", is_admin=True)
    assert "投递" in stats.text and "LLM" in stats.text
    assert "2026-02" in (await handle(actx, alice, "/passwords", is_admin=True)).text


async def test_two_notes_in_the_same_second_stay_two_posts(actx: AdminContext) -> None:
    """Two admin notes sent in the same second get different slugs: each preview's 发布
    publishes its own note, neither overwrites the other."""
    now = datetime(2026, 2, 12, 10, 30, 0, 400_000, tzinfo=SHANGHAI)
    texts = ("早盘速递\n\n通信板块走强，关注天孚通信。", "午盘速递\n\n传媒板块回调，关注中文在线。")
    slugs = []
    for text in texts:
        preview = await drafts.post_and_preview(actx, drafts.admin_draft(text, ctx=actx, now=now))
        button = next(action for label, action in preview.choices if label == "发布")
        slugs.append(button.removeprefix("publish:"))
    assert slugs[0] != slugs[1] and all(s.startswith("note-20260212-103000-") for s in slugs)
    titles = [(await publish.publish_post(actx, slug, by="test")).text for slug in slugs]
    assert "已发布《早盘速递》" in titles[0] and "已发布《午盘速递》" in titles[1]
    same = drafts.admin_draft(texts[0], ctx=actx, now=now + timedelta(milliseconds=100))
    assert same.slug == slugs[0]  # the same text in the same second is the same note


async def test_broadcast_is_stored_confirmed_once_and_survives_a_restart(
    actx: AdminContext,
) -> None:
    """The text lives in the store: rows queued before a restart are sent after it; a second
    confirmation queues nothing."""
    await reader(actx, "alice")
    prepared = await broadcasts.prepare_broadcast(actx, "今晚八点直播", by="test")
    broadcast_id = int(prepared.choices[0][1].removeprefix("bcast:"))
    assert "已排队：1 人" in (await broadcasts.confirm_broadcast(actx, broadcast_id)).text
    assert "已经发送过" in (await broadcasts.confirm_broadcast(actx, broadcast_id)).text
    restarted = StoreContext(actx.store.sessions, SHANGHAI)  # nothing kept in memory
    channel = ConsoleChannel()
    assert (await send_queued(restarted, registry(), {"console": channel})).sent == 1
    assert channel.inbox["alice"] == ["今晚八点直播"]
