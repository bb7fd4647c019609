"""The WeChat channel (customer-service messages through wechatpy) against the fake WeChat API
on loopback, which enforces the 48-hour window, 5 messages per user message, 2048 bytes and
the error codes."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import ExitStack
from datetime import date, time, timedelta
from typing import Any

import pytest
from sqlmodel import select, update

from bot.container import Services, open_services
from bot.wechat import commands
from bot.wechat.notices import also_to_wechat_admins
from bot.wechat.sender import WeChatChannel
from digests.calendar import events
from digests.ingest.core import ingest
from digests.kinds import registry
from digests.models import Delivery, Subscriber, utcnow
from digests.outbox.dispatcher import send_queued
from digests.outbox.enqueue import queue_message
from digests.publishing import drafts, publish
from digests.readers import periods
from digests.replies import Reply
from tests.conftest import EXAMPLES
from tests.fake_wechat import SECRET, FakeWeChat, fake_wechat

PUBLIC = "2026-02-20-public-new-year"


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[tuple[FakeWeChat, Services, WeChatChannel]]:
    """The fake WeChat API, the app's services with the samples, and the channel."""
    with fake_wechat() as fake:
        async with open_services(fake.settings(database_url)) as services:
            [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
            await periods.add_password(
                services.admin_context().store,
                "ld2602",
                date(2026, 2, 1),
                date(2026, 2, 28),
                "2026-02",
            )
            yield fake, services, WeChatChannel(services.settings, services.store_context())


async def follower(services: Services, fake: FakeWeChat, openid: str) -> None:
    """The reader follows the account (and so writes to it, for WeChat too)."""
    await commands.on_follow(services.store_context(), openid)
    fake.user_wrote(openid)


async def publish_and_send(services: Services, channel: WeChatChannel) -> Any:
    await publish.publish_post(services.admin_context(), PUBLIC, by="test")
    return await send_queued(services.store_context(), registry(), {"wechat": channel})


async def rows(services: Services) -> list[Delivery]:
    async with services.store_context().sessions() as session:
        return list((await session.exec(select(Delivery))).all())


async def test_a_digest_goes_as_one_message_with_its_page_link(world: Any) -> None:
    """Within the window: one customer-service message with the title, the headline and the
    link to the whole digest; the reader has 4 replies left."""
    fake, services, channel = world
    await follower(services, fake, "o-ann")
    counts = await publish_and_send(services, channel)
    assert counts.sent == 1
    [message] = fake.inbox["o-ann"]
    assert "节后第一篇" in message and "全文：https://digest.example/d/" in message
    assert len(message.encode()) <= 2000
    async with services.store_context().sessions() as session:
        reader = (await session.exec(select(Subscriber))).one()
    assert reader.replies_left == 4


async def test_outside_the_window_the_message_waits_for_the_reader(world: Any) -> None:
    """A reader silent for 49 hours: nothing is sent and nothing is lost; when they write
    again the message goes at the next send."""
    fake, services, channel = world
    await follower(services, fake, "o-ben")
    async with services.store_context().sessions() as session, session.begin():
        await session.exec(
            update(Subscriber).values(last_contact_at=utcnow() - timedelta(hours=49))
        )
    counts = await publish_and_send(services, channel)
    assert (counts.sent, counts.waiting) == (0, 1) and "o-ben" not in fake.inbox
    [row] = await rows(services)
    assert (row.status, row.attempts, row.next_attempt_at) == ("waiting", 0, None)
    assert fake.sent("message/custom/send") == []
    await commands.on_text(services.admin_context(), "o-ben", "状态", base_url="", admins=[])
    fake.user_wrote("o-ben")
    assert (await send_queued(services.store_context(), registry(), {"wechat": channel})).sent == 1
    assert len(fake.inbox["o-ben"]) == 1


async def test_wechat_says_the_window_is_closed(world: Any) -> None:
    """Our record says open but WeChat answers 45015: the row waits, no failure."""
    _, services, channel = world
    await commands.on_follow(services.store_context(), "o-cat")  # the fake never heard
    counts = await publish_and_send(services, channel)
    assert (counts.sent, counts.waiting, counts.failed) == (0, 1, 0)


async def test_quota_errors_back_off_and_unfollowed_readers_are_gone(world: Any) -> None:
    """45009 → retried later (backoff), 43004 → the subscriber is gone."""
    fake, services, channel = world
    await follower(services, fake, "o-dee")
    fake.fail_next(45009, path="message/custom/send")
    counts = await publish_and_send(services, channel)
    assert counts.retried == 1 and "o-dee" not in fake.inbox
    async with services.store_context().sessions() as session, session.begin():
        await session.exec(update(Delivery).values(next_attempt_at=None))
    fake.fail_next(43004, path="message/custom/send")
    counts = await send_queued(services.store_context(), registry(), {"wechat": channel})
    assert counts.gone and counts.skipped == 1


async def test_a_token_invalidated_by_another_process_is_refreshed(world: Any) -> None:
    """Another process fetching a token invalidates ours (40001): wechatpy fetches a new one
    once and the message goes."""
    fake, services, channel = world
    await follower(services, fake, "o-eve")
    channel.client.access_token  # noqa: B018 (fetches token 1)
    other = WeChatChannel(channel.settings, services.store_context())
    other.client.access_token  # noqa: B018 (token 2 retires token 1)
    assert (await publish_and_send(services, channel)).sent == 1
    assert len(fake.tokens) == 3


async def test_a_reminder_the_reader_cannot_get_now_is_dropped_not_held(world: Any) -> None:
    """Outside the window a digest waits for the reader, but a reminder is skipped: sent when
    they next write, days later, "明天：美国CPI" would announce something already past."""
    fake, services, channel = world
    await follower(services, fake, "o-eli")
    async with services.store_context().sessions() as session, session.begin():
        await session.exec(
            update(Subscriber).values(last_contact_at=utcnow() - timedelta(hours=49))
        )
        reader = (await session.exec(select(Subscriber))).one()
    tomorrow = utcnow().astimezone(services.settings.tz).date() + timedelta(days=1)
    event = await events.add(services.store_context(), tomorrow, time(21, 30), "美国CPI", 3)
    async with services.store_context().sessions() as session, session.begin():
        row = Delivery(
            kind="reminder", ref=f"{event.id}:eve", channel="wechat", subscriber_id=reader.id or 0
        )
        session.add(row)
    counts = await send_queued(services.store_context(), registry(), {"wechat": channel})
    assert (counts.sent, counts.waiting, counts.skipped) == (0, 0, 1)
    [row] = await rows(services)
    assert row.status == "skipped" and "48-hour" in row.last_error


async def test_an_unreachable_api_leaves_no_secret_in_the_store_or_the_log(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With the WeChat API gone, a failed token fetch (secret= in its URL) and a failed send
    (access_token= in its URL) are recorded and logged without either."""
    with ExitStack() as api:
        fake = api.enter_context(fake_wechat())
        settings = fake.settings(database_url)
        async with open_services(settings) as services:
            channel = WeChatChannel(settings, services.store_context())
            [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
            await follower(services, fake, "o-fay")
            assert (await publish_and_send(services, channel)).sent == 1  # token cached
            token = fake.tokens[-1]
            api.close()  # the API stops answering: its port is closed
            ctx = services.store_context()
            reader = (await rows(services))[0].subscriber_id
            await queue_message(ctx, reader, "一条消息", by="test")
            caplog.set_level(logging.DEBUG)
            assert (
                await send_queued(ctx, registry(), {"wechat": channel})
            ).retried == 1  # with the token
            errors = [row.last_error for row in await rows(services)]
            fresh = WeChatChannel(settings, ctx)  # no token yet: fetching one fails
            async with ctx.sessions() as session, session.begin():
                await session.exec(update(Delivery).values(next_attempt_at=None, attempts=4))
            assert (
                await send_queued(ctx, registry(), {"wechat": fresh})
            ).failed == 1  # the fifth try
            errors += [row.last_error for row in await rows(services)]
    assert any("access_token=***" in e for e in errors) and any("secret=***" in e for e in errors)
    assert "delivery" in caplog.text and "secret=***" in caplog.text
    for text in [*errors, caplog.text]:
        assert SECRET not in text and token not in text


async def test_the_jobs_notices_reach_wechat_admins_with_their_review_link(world: Any) -> None:
    """A job's notice (here a post's preview, as the poll job sends one) goes to the Telegram
    side first, then to each WeChat admin who has written to us: in WeChat's words, with that
    admin's review link; an admin who never wrote gets nothing and costs nothing."""
    fake, services, channel = world
    await follower(services, fake, "o-admin")
    told: list[Reply] = []

    async def first(reply: Reply) -> None:
        told.append(reply)

    notify = also_to_wechat_admins(first, channel, services.admin_context(), ["o-admin", "o-x"])
    await notify(await drafts.preview(services.admin_context(), PUBLIC))
    assert len(told) == 1
    [text] = fake.inbox["o-admin"]
    assert "审阅与修改（15 分钟内有效）：" in text and "/review/" in text
    assert not re.search(r"/[a-z_]+", re.sub(r"https?://\S+", "", text))  # no /command
    assert "o-x" not in fake.inbox
