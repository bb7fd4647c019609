"""WeCom group robots against a loopback fake webhook: editions and reminders as markdown,
public content only, the robot's errors mapped, 20 messages a minute per robot."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any

import httpx
import pytest

from bot.wecom import WeComChannel, register_robots, robot_id
from digests.calendar import events, reminders
from digests.kinds import registry
from digests.models import utcnow
from digests.outbox.dispatcher import send_queued
from digests.outbox.editions import make_edition
from digests.outbox.types import Reader
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.replies import Reply
from tests.conftest import SHANGHAI, LoopbackHandler, serve


class Robot:
    """What the fake robot received, and the errcode it answers with."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.errcode = 0
        self.status = 200
        self.url = ""


@pytest.fixture
def robot() -> Iterator[Robot]:
    state = Robot()

    class Handler(LoopbackHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if state.errcode == 0:
                state.posts.append(body)
            answer = {"errcode": state.errcode, "errmsg": "ok"}
            self.respond(state.status, json.dumps(answer).encode())

    with serve(Handler) as root:
        state.url = f"{root}/cgi-bin/webhook/send?key=secret-key"
        yield state


async def send(actx: AdminContext, robot: Robot) -> Any:
    async with httpx.AsyncClient() as http:
        channel = WeComChannel([robot.url], http)
        return await send_queued(actx.store, registry(), {"wecom": channel})


async def test_an_edition_reaches_the_group_as_markdown_public_digests_only(
    actx: AdminContext, robot: Robot
) -> None:
    """The robot takes editions: one markdown message with the public digest; the members'
    post is left out (nobody checked the group's members)."""
    await register_robots(actx.store, [robot.url])
    await publish.publish_post(actx, "2-10-zhui-zong", by="test")  # gated
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    edition, queued = await make_edition(actx.store, utcnow())
    assert edition is not None and queued == 1
    assert (await send(actx, robot)).sent == 1
    [message] = robot.posts
    assert message["msgtype"] == "markdown"
    content = message["markdown"]["content"]
    assert "节后第一篇" in content and "科技大爆发" not in content
    assert len(content.encode()) <= 4096


async def test_a_reminder_reaches_the_group(actx: AdminContext, robot: Robot) -> None:
    """The robot takes reminders of confirmed public events."""
    await register_robots(actx.store, [robot.url])
    await events.add(actx.store, date(2026, 3, 6), clock(21, 30), "美国非农", 3)
    eve = datetime(2026, 3, 5, 20, 1, tzinfo=SHANGHAI)
    assert (
        await reminders.queue_due(actx.store, leads=["eve"], grace=timedelta(hours=2), now=eve) == 1
    )
    assert (await send(actx, robot)).sent == 1
    assert "明天：美国非农" in robot.posts[0]["markdown"]["content"]


async def test_robot_errors(actx: AdminContext, robot: Robot) -> None:
    """45009 (too frequent) → tried again later; 93000 (invalid webhook) → the robot is gone;
    the URL's key is never stored (the subscriber id is its hash)."""
    await register_robots(actx.store, [robot.url])
    await publish.publish_post(actx, "2026-02-20-public-new-year", by="test")
    await make_edition(actx.store, utcnow())
    robot.errcode = 45009
    assert (await send(actx, robot)).retried == 1
    robot.errcode = 93000
    reader = Reader(1, "wecom", robot_id(robot.url), True, "edition", None, 0)
    async with httpx.AsyncClient() as http:
        result = await WeComChannel([robot.url], http).send(reader, Reply("x"))
    assert result.outcome == "gone" and "secret-key" not in robot_id(robot.url)


async def test_twenty_messages_a_minute_per_robot(robot: Robot) -> None:
    """The 21st message in a window waits for the window to slide (window shortened)."""
    reader = Reader(1, "wecom", robot_id(robot.url), True, "edition", None, 0)
    async with httpx.AsyncClient() as http:
        channel = WeComChannel([robot.url], http, window=0.5)
        started = time.monotonic()
        for n in range(21):
            assert (await channel.send(reader, Reply(f"#{n}"))).outcome == "ok"
    assert time.monotonic() - started >= 0.45 and len(robot.posts) == 21


async def test_a_failing_robot_is_recorded_without_its_key(robot: Robot) -> None:
    """An HTTP error names the robot's URL; the error kept for the row has the key hidden."""
    robot.status = 502
    reader = Reader(1, "wecom", robot_id(robot.url), True, "edition", None, 0)
    async with httpx.AsyncClient() as http:
        result = await WeComChannel([robot.url], http).send(reader, Reply("x"))
    assert result.outcome == "transient" and "key=***" in result.detail
    assert "secret-key" not in result.detail
