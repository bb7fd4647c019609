"""WECHAT_DELIVERY=mass_send_tag: the daily mass-send to a tag, against the fake WeChat API on
loopback (one mass-send per day, tags in batches of 50, clientmsgid). Readers unlock through
the real WeChat commands; "outside the window" is their last message 49 hours ago."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select, update
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.container import Services, open_services
from bot.scheduler import build_scheduler, mass_job
from bot.wechat import commands
from bot.wechat.mass import TAG_NAME, MassSender
from bot.wechat.sender import WeChatChannel
from digests.ingest.core import ingest
from digests.kinds import registry
from digests.models import AccessGrant, Delivery, Subscriber, utcnow
from digests.outbox import mass
from digests.outbox.dispatcher import send_queued
from digests.publishing import broadcasts, drafts, publish
from digests.readers import periods
from digests.replies import Reply
from tests.conftest import EXAMPLES
from tests.fake_wechat import APPID, SECRET, FakeWeChat, Tag, fake_wechat

PUBLIC = "2026-02-20-public-new-year"
PASSWORD = "ld-this-month"
DAY = 86_400.0  # the fake's clock: its one mass-send a day


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[tuple[FakeWeChat, Services, WeChatChannel]]:
    """The fake WeChat API, the services with the samples, a password period around today."""
    with fake_wechat() as fake:
        async with open_services(
            fake.settings(database_url, wechat_delivery="mass_send_tag")
        ) as services:
            [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
            today = utcnow().astimezone(services.settings.tz).date()
            await periods.add_password(
                services.admin_context().store,
                PASSWORD,
                today - timedelta(days=10),
                today + timedelta(days=20),
                "本月",
            )
            yield fake, services, WeChatChannel(services.settings, services.store_context())


async def say(services: Services, openid: str, text: str) -> str:
    answer = await commands.on_text(services.admin_context(), openid, text, base_url="", admins=[])
    return answer.text


async def unlocked(services: Services, fake: FakeWeChat, *openids: str) -> None:
    """Each reader follows, unlocks (the real 解锁 command) and stays in the 48-hour window."""
    for openid in openids:
        await commands.on_follow(services.store_context(), openid)
        assert "解锁成功" in await say(services, openid, f"解锁 {PASSWORD}")
        fake.user_wrote(openid)


async def fall_silent(services: Services, fake: FakeWeChat, *openids: str) -> None:
    """Their last message was 49 hours ago: customer-service messages cannot reach them."""
    async with services.store_context().sessions() as session, session.begin():
        await session.exec(
            update(Subscriber)
            .where(col(Subscriber.external_id).in_(openids))
            .values(last_contact_at=utcnow() - timedelta(hours=49))
        )
    for openid in openids:
        fake.last_wrote[openid] = fake.now - 49 * 3600


async def gated_post(services: Services, title: str) -> str:
    """An admin's members-only post dated yesterday (inside the period), published."""
    day = utcnow().astimezone(services.settings.tz) - timedelta(days=1)
    text = (
        f"---\ntitle: {title}\ndate: {day:%Y-%m-%d %H:%M}\npassword: {PASSWORD}\n---\n"
        "## 计算机\n\n算力租赁订单饱满，关注：中科曙光、浪潮信息。\n\n"
        "## 通信\n\n光模块出货超预期，关注：中际旭创、新易盛。\n"
    )
    draft = drafts.admin_draft(text, ctx=services.admin_context(), name=f"{title}.md")
    await drafts.post_and_preview(services.admin_context(), draft)
    await publish.publish_post(services.admin_context(), draft.slug, by="test")
    return draft.slug


async def broadcast(services: Services, text: str) -> None:
    reply = await broadcasts.prepare_broadcast(services.admin_context(), text, by="test")
    await broadcasts.confirm_broadcast(
        services.admin_context(), int(reply.choices[0][1].split(":")[1])
    )


async def rows_of(services: Services, openid: str) -> list[Delivery]:
    async with services.store_context().sessions() as session:
        reader = select(Subscriber.id).where(Subscriber.external_id == openid)
        found = await session.exec(
            select(Delivery).where(col(Delivery.subscriber_id).in_(reader)).order_by(Delivery.id)
        )
        return list(found.all())


async def test_readers_outside_the_window_get_the_mass_send_and_nobody_gets_it_twice(
    world: Any,
) -> None:
    """ann is in the window: the digest goes to her as a customer-service message; ben and cat
    are silent: it waits, then the mass-send to the tag (exactly ben and cat) carries it."""
    fake, services, channel = world
    await unlocked(services, fake, "o-ann", "o-ben", "o-cat")
    await fall_silent(services, fake, "o-ben", "o-cat")
    await gated_post(services, "11月策略：算力与光模块")
    counts = await send_queued(services.store_context(), registry(), {"wechat": channel})
    assert (counts.sent, counts.waiting) == (1, 2) and len(fake.inbox["o-ann"]) == 1

    report = await MassSender(channel, registry()).run()
    [sent] = fake.mass
    [tag_id] = [i for i, tag in fake.tags.items() if tag.name == TAG_NAME]
    assert (sent.tag_id, sorted(sent.recipients)) == (tag_id, ["o-ben", "o-cat"])
    assert "【11月策略：算力与光模块】" in sent.content
    assert "1. 计算机：中科曙光、浪潮信息" in sent.content
    assert "/d/" not in sent.content and "回复「最新」" in sent.content  # no per-reader link
    assert len(sent.content.encode()) <= 2000
    assert (report.rows, report.readers, report.waiting) == (2, 2, 0)
    assert f"#{report.msg_id}" in report.line()
    for openid in ("o-ben", "o-cat"):
        [row] = await rows_of(services, openid)
        assert (row.status, row.message_ids, row.last_error) == (
            "sent",
            [report.msg_id],
            "mass-send",
        )
    again = await MassSender(channel, registry()).run()  # nothing waits: no API call at all
    assert again.rows == 0 and len(fake.sent("message/mass/sendall")) == 1


async def test_a_mass_send_carries_only_what_all_its_readers_wait_for(world: Any) -> None:
    """dan got the public digest in his window, eve did not; then a broadcast waits for both.
    The mass-send carries the broadcast to both (2 rows either way: more readers win) and not
    the digest (dan would get it twice); eve's digest waits on and goes when she writes."""
    fake, services, channel = world
    await unlocked(services, fake, "o-dan", "o-eve")
    await fall_silent(services, fake, "o-eve")
    await publish.publish_post(services.admin_context(), PUBLIC, by="test")
    assert (await send_queued(services.store_context(), registry(), {"wechat": channel})).sent == 1
    await fall_silent(services, fake, "o-dan")
    await broadcast(services, "周五休市提醒：节前请注意仓位。")
    await send_queued(services.store_context(), registry(), {"wechat": channel})

    report = await MassSender(channel, registry()).run()
    [sent] = fake.mass
    assert sorted(sent.recipients) == ["o-dan", "o-eve"] and "周五休市提醒" in sent.content
    assert "节后第一篇" not in sent.content
    assert (report.rows, report.waiting) == (2, 1)
    digest_row, broadcast_row = await rows_of(services, "o-eve")
    assert (digest_row.status, broadcast_row.status) == ("waiting", "sent")

    await say(services, "o-eve", "状态")  # she writes: her window opens, the digest goes
    fake.user_wrote("o-eve")
    assert (await send_queued(services.store_context(), registry(), {"wechat": channel})).sent == 1
    assert "节后第一篇" in fake.inbox["o-eve"][-1]


async def test_the_tag_follows_unlocks_and_expiries(world: Any) -> None:
    """A stale member is taken out before the mass-send; a reader whose access ended is not in
    the audience (their message waits for them); the nightly prune removes lapsed readers."""
    fake, services, channel = world
    await unlocked(services, fake, "o-fay", "o-gus")
    await fall_silent(services, fake, "o-fay", "o-gus")
    async with services.store_context().sessions() as session, session.begin():
        gus = select(Subscriber.id).where(Subscriber.external_id == "o-gus")
        await session.exec(
            update(AccessGrant)
            .where(col(AccessGrant.subscriber_id).in_(gus))
            .values(ends_at=utcnow() - timedelta(minutes=1))
        )
    fake.tags[7] = Tag(TAG_NAME, ["o-old"])  # made by an earlier run; o-old left since
    await broadcast(services, "本周策略会改到周四晚八点。")
    await send_queued(services.store_context(), registry(), {"wechat": channel})

    report = await MassSender(channel, registry()).run()
    assert fake.tags[7].members == ["o-fay"] and fake.mass[0].recipients == ["o-fay"]
    assert (report.tagged, report.untagged) == (1, 1)
    [gus_row] = await rows_of(services, "o-gus")
    assert gus_row.status == "waiting"

    async with services.store_context().sessions() as session, session.begin():
        await session.exec(update(AccessGrant).values(ends_at=utcnow() - timedelta(minutes=1)))
    assert await MassSender(channel, registry()).prune() == 1 and fake.tags[7].members == []


async def test_quota_spent_means_the_rows_wait_for_tomorrow(world: Any) -> None:
    """45028 (no mass-send left today): nothing is lost, the admins read why; the next day's
    run sends it."""
    fake, services, channel = world
    await unlocked(services, fake, "o-hal")
    await fall_silent(services, fake, "o-hal")
    await broadcast(services, "明早九点电话会。")
    await send_queued(services.store_context(), registry(), {"wechat": channel})
    fake.fail_next(45028, path="message/mass/sendall")
    told: list[str] = []

    async def notify(reply: Reply) -> None:
        told.append(reply.text)

    await mass_job(MassSender(channel, registry()), notify)
    assert fake.mass == [] and "今天的群发次数已用完" in told[0] and "1 条消息继续等待" in told[0]
    [row] = await rows_of(services, "o-hal")
    assert (row.status, row.lease_until) == ("waiting", None)

    fake.advance(DAY)
    report = await MassSender(channel, registry()).run()
    assert report.rows == 1 and fake.mass[0].recipients == ["o-hal"]


async def test_a_mass_send_whose_answer_was_lost_is_not_sent_again(world: Any) -> None:
    """WeChat took the mass-send but our write was lost (the rows wait again): the same plan
    goes with the same clientmsgid, WeChat answers 45065 with the first msg_id, and the rows
    are recorded as sent by it; readers get it once."""
    fake, services, channel = world
    await unlocked(services, fake, "o-ivy")
    await fall_silent(services, fake, "o-ivy")
    await broadcast(services, "今晚八点直播复盘。")
    await send_queued(services.store_context(), registry(), {"wechat": channel})
    first = await MassSender(channel, registry()).run()
    async with services.store_context().sessions() as session, session.begin():
        await session.exec(update(Delivery).values(status="waiting", message_ids=None))

    second = await MassSender(channel, registry()).run()
    assert len(fake.mass) == 1 and second.msg_id == first.msg_id is not None
    [row] = await rows_of(services, "o-ivy")
    assert (row.status, row.message_ids) == ("sent", [first.msg_id])


async def test_what_does_not_fit_one_message_waits_for_the_next_day(world: Any) -> None:
    """Twelve 300-byte broadcasts: the oldest that fit in 2000 bytes go today, the rest on the
    next day's mass-send, in order; nothing twice."""
    fake, services, channel = world
    await unlocked(services, fake, "o-jon")
    await fall_silent(services, fake, "o-jon")
    for n in range(12):
        await broadcast(services, f"第{n:02d}条：" + "仓位提示。" * 20)
    await send_queued(services.store_context(), registry(), {"wechat": channel})
    today = await MassSender(channel, registry()).run()
    fake.advance(DAY)
    tomorrow = await MassSender(channel, registry()).run()
    assert today.rows + tomorrow.rows == 12 and 0 < today.rows < 12
    first, second = (m.content for m in fake.mass)
    assert "第00条" in first and "第00条" not in second and "第11条" in second
    assert all(len(m.content.encode()) <= 2000 for m in fake.mass)


async def test_the_tag_is_made_again_when_deleted_and_notices_never_go_in_a_mass(
    world: Any,
) -> None:
    """The tag deleted in the OA's console (45159) is made again; a personal notice (an
    expiry notice) stays waiting for its reader."""
    fake, services, channel = world
    await unlocked(services, fake, "o-kim")
    await fall_silent(services, fake, "o-kim")
    await broadcast(services, "第一条。")
    await send_queued(services.store_context(), registry(), {"wechat": channel})
    sender = MassSender(channel, registry())
    await sender.run()
    fake.tags.clear()
    async with services.store_context().sessions() as session, session.begin():
        kim = (
            await session.exec(select(Subscriber).where(Subscriber.external_id == "o-kim"))
        ).one()
        grant = (await session.exec(select(AccessGrant))).one()
        ref = f"expiry:{grant.id}:3"
        notice = Delivery(
            kind="notice", ref=ref, channel="wechat", subscriber_id=kim.id or 0, status="waiting"
        )
        session.add(notice)
    await broadcast(services, "第二条。")
    await send_queued(services.store_context(), registry(), {"wechat": channel})
    fake.advance(DAY)
    report = await sender.run()
    assert report.rows == 1 and [t.name for t in fake.tags.values()] == [TAG_NAME]
    assert "第二条" in fake.mass[-1].content and "结束" not in fake.mass[-1].content
    notice = [r for r in await rows_of(services, "o-kim") if r.kind == "notice"]
    assert notice[0].status == "waiting"


async def test_dry_run_and_the_schedule(world: Any, tmp_path: Path) -> None:
    """`digestbot wechat-mass --dry-run` prints the text and changes nothing; the scheduler
    has the mass-send and the nightly prune only with mass_send_tag."""
    fake, services, channel = world
    await unlocked(services, fake, "o-lea")
    await fall_silent(services, fake, "o-lea")
    await broadcast(services, "试运行。")
    await send_queued(services.store_context(), registry(), {"wechat": channel})

    env = {
        "DATABASE_URL": services.settings.database_url,
        "WECHAT_APP_ID": APPID,
        "WECHAT_APP_SECRET": SECRET,
        "WECHAT_API_BASE_URL": fake.base_url,
    }
    old = os.getcwd()
    os.chdir(tmp_path)  # no .env
    try:  # a thread: the command runs its own event loop
        invoke = CliRunner().invoke
        result = await asyncio.to_thread(invoke, cli_app, ["wechat-mass", "--dry-run"], env=env)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    assert "试运行。" in result.output and "1 条消息、1 位读者（未发送）" in result.output
    [row] = await rows_of(services, "o-lea")
    assert (row.status, fake.mass, fake.tags) == ("waiting", [], {})

    async def notify(reply: Reply) -> None:
        pass

    jobs = {job.id for job in build_scheduler(services, notify, {"wechat": channel}).get_jobs()}
    assert {"wechat-mass", "wechat-tag"} <= jobs
    plain = services.settings.model_copy(update={"wechat_delivery": "customer_service"})
    others = dataclasses.replace(services, settings=plain)
    jobs = {job.id for job in build_scheduler(others, notify, {"wechat": channel}).get_jobs()}
    assert not {"wechat-mass", "wechat-tag"} & jobs


def test_choose_prefers_the_most_rows_delivered() -> None:
    """Four readers want {b}, one wants {a, b}: {b} to five beats {a, b} to one; an item set
    that does not fit is cut, the oldest first kept."""
    wanted = {
        1: {"b": [10]},
        2: {"b": [11]},
        3: {"b": [12]},
        4: {"b": [13]},
        5: {"a": [1], "b": [14]},
    }
    order = {"a": 1, "b": 10}
    assert mass.choose(wanted, order, lambda items: True) == ["b"]
    only_two = {1: {"a": [1], "b": [2], "c": [3]}}
    assert mass.choose(only_two, {"a": 1, "b": 2, "c": 3}, lambda items: len(items) <= 2) == [
        "a",
        "b",
    ]


async def test_one_item_longer_than_a_message_is_cut_but_the_disclaimer_stays(
    world: Any,
) -> None:
    """A 3,000-byte broadcast: cut to fit 2000 bytes with …… and the footer (回复「最新」 and
    the disclaimer) kept whole."""
    fake, services, channel = world
    await unlocked(services, fake, "o-max")
    await fall_silent(services, fake, "o-max")
    await broadcast(services, "长文。" * 334)
    await send_queued(services.store_context(), registry(), {"wechat": channel})
    assert (await MassSender(channel, registry()).run()).rows == 1
    [sent] = fake.mass
    assert len(sent.content.encode()) <= 2000 and "……\n\n回复「最新」" in sent.content
    assert sent.content.endswith("仅供参考，不构成投资建议")


async def test_a_reader_who_writes_while_the_mass_send_is_made_gets_the_rest_at_once(
    world: Any,
) -> None:
    """Rows held for a mass-send are passed over when their reader writes; those it does not
    carry are due at once afterwards, not left waiting for a further message."""
    fake, services, channel = world
    await unlocked(services, fake, "o-ned")
    await fall_silent(services, fake, "o-ned")
    await broadcast(services, "盘前要点。")
    await send_queued(services.store_context(), registry(), {"wechat": channel})
    plan = await mass.plan(
        services.store_context(), registry(), "wechat", str, limit=2000, footer="回复「最新」"
    )
    assert plan is not None and len(plan.claimed) == 1
    await say(services, "o-ned", "状态")  # he writes while the mass-send is being made
    fake.user_wrote("o-ned")
    await mass.finish(services.store_context(), plan, None)  # WeChat refused it, say
    [row] = await rows_of(services, "o-ned")
    assert (row.status, row.lease_until) == ("queued", None)
    assert (await send_queued(services.store_context(), registry(), {"wechat": channel})).sent == 1
