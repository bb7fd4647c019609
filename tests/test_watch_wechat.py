"""Watchlists on WeChat: the words through the signed, encrypted callback (/wechat), and a
watcher's alert as a customer-service message through the fake WeChat API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from bot.app import build_app
from bot.container import open_services
from digests import fingerprint
from digests.kinds import registry
from digests.outbox.dispatcher import send_queued
from digests.publishing import publish
from digests.readers import passwords
from digests.readers.account import get_subscriber
from digests.watch import lists
from tests import test_wechat_sender
from tests.test_telegram import SEED_TITLE
from tests.test_wechat import _publish_samples, follow, settings_for, text
from tests.test_wechat_sender import follower

SEED = "2-10-zhui-zong"
world = test_wechat_sender.world  # the fake WeChat API, the services and the channel
POINT = "龙头天孚通信"  # the point of the seed digest that names 天孚通信


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    """The app in safe mode, with the samples, the public post and the gated seed published."""
    settings = settings_for(database_url)
    asyncio.run(_publish_samples(settings))
    asyncio.run(_publish_seed(settings))
    with TestClient(build_app(settings)) as running:
        yield running


async def _publish_seed(settings: Any) -> None:
    async with open_services(settings) as services:
        await publish.publish_post(services.admin_context(), SEED, by="test")


def test_watch_words_timeline_and_locks_through_the_callback(client: TestClient) -> None:
    """关注 (with or without a space, full-width Latin too), 我的关注, 个股 (🔒 until
    unlocked, then the points), 取消关注; the help lists the words."""
    follow(client, "o-alice")
    assert "关注 名称" in text(client, "o-alice", "帮助")[1]
    assert "已关注「天孚通信」（1/50）" in text(client, "o-alice", "关注天孚通信")[1]
    reply = text(client, "o-alice", "关注 ＨＢＭ")[1]
    assert "已关注「HBM」（2/50）" in reply and "还没有哪篇摘要提到过「HBM」" in reply
    assert "你关注的（2/50）：天孚通信、HBM" in text(client, "o-alice", "我的关注")[1]
    locked = text(client, "o-alice", "个股 天孚通信")[1]
    assert f"🔒 2026-02-12《{SEED_TITLE}》" in locked and POINT not in locked
    assert "解锁成功" in text(client, "o-alice", "ld2602")[1]
    assert POINT in text(client, "o-alice", "个股 天孚通信")[1]
    assert "已取消关注「天孚通信」" in text(client, "o-alice", "取消关注 天孚通信")[1]
    assert "你没有关注「天孚通信」" in text(client, "o-alice", "取消关注 天孚通信")[1]
    assert "发送 我的关注 查看" in text(client, "o-alice", "取消关注 天孚通信")[1]


async def test_a_watchers_digest_carries_the_star_line_on_wechat(world: Any) -> None:
    """An unlocked instant watcher's customer-service message starts with ⭐ and the names;
    a reader watching nothing in it gets the same digest without the line."""
    fake, services, channel = world
    ctx = services.store_context()
    for openid in ("o-ann", "o-bob"):
        await follower(services, fake, openid)
    async with ctx.sessions() as session:
        ann = await get_subscriber(session, channel="wechat", external_id="o-ann")
        bob = await get_subscriber(session, channel="wechat", external_id="o-bob")
    assert ann is not None and bob is not None
    for unlocked in (ann, bob):
        await passwords.unlock(ctx, unlocked, "ld2602")
    await lists.watch(ctx, ann, "天孚通信")
    await lists.watch(ctx, bob, "液冷")
    await publish.publish_post(services.admin_context(), SEED, by="test")
    assert (await send_queued(ctx, registry(), {"wechat": channel})).sent == 2
    # each copy carries its reader's invisible marks (digests/fingerprint.py): read without
    [to_ann] = [fingerprint.strip(m) for m in fake.inbox["o-ann"]]
    [to_bob] = [fingerprint.strip(m) for m in fake.inbox["o-bob"]]
    assert to_ann.startswith(f"⭐ 你关注的：天孚通信\n【{SEED_TITLE}】")
    assert to_bob.startswith(f"【{SEED_TITLE}】")
