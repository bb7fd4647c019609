"""Per-reader fingerprints (digests/fingerprint.py) and `digestbot trace` (digests/tracing.py):
marks survive a user's copy of a Telegram message, a WeChat message and a saved page, name the
right reader, publication and delivery, keep every channel's limits, and still trace when
part of the text is gone. End to end through the fake Bot API and the fake WeChat API."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient
from typer.testing import CliRunner

from bot.app import build_app
from bot.cli import app
from bot.container import Services, open_services
from bot.pages import html_page
from bot.telegram.outbox import TelegramOutbox
from bot.telegram.sender import Pacer, plain, reply_parts
from bot.wechat import commands
from bot.wechat.mass import mass_teaser
from bot.wechat.sender import WeChatChannel
from digests import fingerprint, render, tracing
from digests.fingerprint import Medium
from digests.ingest.core import ingest
from digests.kinds import registry
from digests.models import Publication, utcnow
from digests.outbox.dispatcher import send_queued
from digests.outbox.editions import make_edition
from digests.outbox.types import Reader
from digests.publishing import publish
from digests.readers import account, pagelinks, periods
from digests.replies import DigestView, Reply
from digests.settings import Settings
from tests.conftest import EXAMPLES
from tests.fake_telegram import TOKEN, FakeTelegram, fake_telegram
from tests.fake_wechat import fake_wechat
from tests.telegram_html import problems
from tests.test_render import TYPICAL, big_digest

PUBLIC = "2026-02-20-public-new-year"
KEY = fingerprint.key("test secret")
CHATS = (1001, 1002)
EDITION = 1003  # a reader who takes the daily edition


@dataclass
class Sent:
    """Two Telegram readers who got the public digest through the outbox."""

    fake: FakeTelegram
    services: Services
    publication: int


@pytest.fixture
async def sent(database_url: str) -> AsyncIterator[Sent]:
    with fake_telegram() as fake:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=database_url,
            telegram_bot_token=TOKEN,
            telegram_api_base_url=fake.root,
            fingerprint_secret=SecretStr("test secret"),
        )
        async with open_services(settings) as services:
            [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
            ctx = services.store_context()
            for chat in CHATS:
                await account.register(ctx, channel="telegram", external_id=str(chat))
            bundled, _ = await account.register(ctx, channel="telegram", external_id=str(EDITION))
            await account.update_settings(ctx, bundled, delivery="edition")
            await publish.publish_post(services.admin_context(), PUBLIC, by="test")
            await make_edition(ctx, utcnow())
            async with TelegramOutbox(settings, Pacer(per_second=1000)) as channel:
                await send_queued(ctx, registry(), {"telegram": channel})
            async with ctx.sessions() as session:
                publication = await session.get(Publication, 1)
            assert publication is not None and publication.id is not None
            yield Sent(fake, services, publication.id)


def copied(fake: FakeTelegram, chat: int) -> str:
    """What a reader gets by selecting the messages and copying: text without tags."""
    return "\n".join(plain(part) for part in fake.inbox[chat])


async def test_trace_names_the_reader_of_a_copied_telegram_text(sent: Sent) -> None:
    """Each reader's copied Telegram text traces to that reader, the publication, the
    telegram channel and the outbox row's send time."""
    ctx = sent.services.store_context()
    for chat in CHATS:
        traced = await tracing.trace(ctx, KEY, copied(sent.fake, chat))
        assert traced is not None and traced.whole and traced.medium is Medium.MESSAGE
        assert [r.external_id for r in traced.readers] == [str(chat)]
        assert [p.id for p, _ in traced.publications] == [sent.publication]
        [delivery] = traced.deliveries
        assert delivery.channel == "telegram" and delivery.kind == "digest"
        assert delivery.status == "sent" and delivery.at is not None


async def test_an_edition_copy_traces_to_its_edition_delivery(sent: Sent) -> None:
    """A copy of the edition message names its reader and the edition row that carried it."""
    traced = await tracing.trace(sent.services.store_context(), KEY, copied(sent.fake, EDITION))
    assert traced is not None and [r.external_id for r in traced.readers] == [str(EDITION)]
    assert [p.id for p, _ in traced.publications] == [sent.publication]
    assert [(d.kind, d.channel) for d in traced.deliveries] == [("edition", "telegram")]


async def test_two_copies_differ_only_in_the_fingerprint(sent: Sent) -> None:
    """Both readers' messages are valid HTML within 4096 units and the same text once the
    marks are taken out; with them, they differ."""
    first, second = (sent.fake.inbox[chat] for chat in CHATS)
    assert first != second and len(first) == len(second)
    assert [fingerprint.strip(p) for p in first] == [fingerprint.strip(p) for p in second]
    for part in first + second:
        assert problems(part) == [] and render.telegram_visible_len(part) <= 4096
    assert fingerprint.find(plain(first[0])).marks >= 3


async def test_a_partial_copy_still_traces(sent: Sent) -> None:
    """Three lines from the middle name the reader and the publication; two lines still name
    the reader; a copy whose marks are all stripped says nothing."""
    ctx = sent.services.store_context()
    lines = [line for line in copied(sent.fake, CHATS[1]).splitlines() if line.strip()]
    marked = [line for line in lines if fingerprint.find(line).marks]
    middle = len(marked) // 2
    three = await tracing.trace(ctx, KEY, "\n".join(marked[middle : middle + 3]))
    assert three is not None and [r.external_id for r in three.readers] == [str(CHATS[1])]
    assert [p.id for p, _ in three.publications] == [sent.publication]
    two = [line for line in marked if fingerprint.find(line).values.keys() & {0, 1}]
    pair = next(
        "\n".join((a, b))
        for a, b in itertools.pairwise(two)
        if {*fingerprint.find(a).values, *fingerprint.find(b).values} >= {0, 1}
    )
    reader_only = await tracing.trace(ctx, KEY, pair)
    assert reader_only is not None and [r.external_id for r in reader_only.readers] == ["1002"]
    assert await tracing.trace(ctx, KEY, fingerprint.strip("\n".join(lines))) is None


def test_a_damaged_mark_is_outvoted_and_junk_is_ignored() -> None:
    """One chunk with flipped bits fails its CRC or loses the vote; lone joiners in emoji
    sequences are no marks."""
    mark = fingerprint.mark_for(KEY, "telegram", "7", 12345, Medium.MESSAGE)
    text = fingerprint.stamp(fingerprint.template("\n".join(["甲乙丙丁"] * 9)), mark)
    zwnj, zwj = fingerprint.ZERO, fingerprint.ONE
    damaged = text.replace(zwnj, zwj, 3)  # three bits of the first chunk flipped
    found = fingerprint.find(damaged + "\n👨\u200d👩\u200d👧")
    assert found.tag_high == mark.tag >> 16 and found.tag_low == mark.tag & 0xFFFF
    assert found.publication == 12345 and found.medium is Medium.MESSAGE


def test_marked_parts_keep_telegram_and_wechat_limits(tmp_path: Path) -> None:
    """A long digest: every marked Telegram part is valid HTML ≤ 4096 UTF-16 units with its
    marks; a WeChat message with marks stays ≤ 2000 bytes."""
    shown = DigestView(big_digest(points=40), "长文", False, 3)
    reply = Reply(digest=shown)
    mark = fingerprint.mark_for(KEY, "telegram", "5", 3, Medium.MESSAGE)
    parts = reply_parts(reply, mark)
    assert len(parts) > 1 and parts != reply_parts(reply)
    for part in parts:
        assert problems(part) == [] and render.telegram_visible_len(part) <= 4096
        assert fingerprint.find(part).marks >= part.count("\n") // 2  # nearly every line
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        wechat_app_id="wx",
        wechat_app_secret=SecretStr("s"),
    )
    channel = WeChatChannel(settings, None)  # type: ignore[arg-type]
    reader = _reader("o-1")
    for views in ([shown], [DigestView(TYPICAL, "短", False, 3)]):
        message = channel.message(reader, Reply(digests=views))
        assert len(message.encode()) <= render.WECHAT_LIMIT
        assert fingerprint.find(message).marks >= 3
    passive = commands.as_text(Reply(digest=shown), "https://x/d/abc.def", mark=mark)
    assert len(passive.encode()) <= render.WECHAT_LIMIT and passive.endswith("/d/abc.def")


def test_a_mass_send_is_marked_as_such_without_a_reader() -> None:
    """A mass-send's text is shared: its mark names the publication and the medium only."""
    text = mass_teaser(Reply(digest=DigestView(TYPICAL, "短", False, 9)))
    found = fingerprint.find(text)
    assert found.medium is Medium.MASS and found.publication == 9 and found.tag_high == 0


async def test_a_wechat_message_traces_to_its_reader(database_url: str) -> None:
    """The WeChat customer-service text names its reader by its marks alone, and by its
    signed page link alone."""
    with fake_wechat() as fake:
        async with open_services(fake.settings(database_url)) as services:
            [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
            ctx = services.store_context()
            for openid in ("o-a", "o-b"):
                await commands.on_follow(ctx, openid)
                fake.user_wrote(openid)
            await publish.publish_post(services.admin_context(), PUBLIC, by="test")
            channel = WeChatChannel(services.settings, ctx)
            await send_queued(ctx, registry(), {"wechat": channel})
            key = fingerprint.key(services.settings.fingerprint_material())
            for openid in ("o-a", "o-b"):
                [text] = fake.inbox[openid]
                no_link = re.sub(r"https?://\S+", "", text)
                traced = await tracing.trace(ctx, key, no_link)
                assert traced is not None and [r.external_id for r in traced.readers] == [openid]
                assert traced.deliveries[0].channel == "wechat"
                page_key = pagelinks.page_secret(services.settings)  # marks gone, link kept
                linked = await tracing.trace(ctx, key, fingerprint.strip(text), page_key=page_key)
                assert linked is not None and [r.external_id for r in linked.readers] == [openid]


def test_a_saved_page_traces_and_shows_a_watermark(database_url: str, tmp_path: Path) -> None:
    """The page a reader saves names them through `digestbot trace FILE`; it shows their
    short id as a faint watermark; a text without marks is reported as such."""
    with fake_telegram() as fake:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=database_url,
            telegram_bot_token=TOKEN,
            telegram_api_base_url=fake.root,
        )
        reader_id = _page_reader(settings)
        token = pagelinks.make_token(
            pagelinks.page_secret(settings), reader_id, 1, _week_from_now()
        )
        with TestClient(build_app(settings)) as client:
            page = client.get(f"/d/{token}").text
    tag = fingerprint.reader_tag(fingerprint.key(settings.fingerprint_material()), "wechat", "o-p")
    assert f"读者 {fingerprint.short_id(tag)}" in page and 'class="wm"' in page
    saved = tmp_path / "page.html"
    saved.write_text(page, encoding="utf-8")
    env = {"DATABASE_URL": database_url, "TELEGRAM_BOT_TOKEN": TOKEN}
    result = CliRunner().invoke(app, ["trace", str(saved)], env=env)
    assert result.exit_code == 0, result.output
    assert "o-p" in result.output and "digest page" in result.output
    assert "page opened: " in result.output  # the open the readership recorded
    assert fingerprint.short_id(tag) in result.output
    clean = tmp_path / "clean.txt"
    clean.write_text(fingerprint.strip(html_page([])), encoding="utf-8")
    nothing = CliRunner().invoke(app, ["trace", str(clean)], env=env)
    assert nothing.exit_code == 1 and "no fingerprint" in nothing.output


def _page_reader(settings: Settings) -> int:
    """A WeChat reader and the public post published (for the page)."""

    async def prepare() -> int:
        async with open_services(settings) as services:
            [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
            actx = services.admin_context()
            await periods.add_password(
                actx.store, "ld2602", date(2026, 2, 1), date(2026, 2, 28), "x"
            )
            reader, _ = await account.register(actx.store, channel="wechat", external_id="o-p")
            await publish.publish_post(actx, PUBLIC, by="test")
            assert reader.id is not None
            return reader.id

    return asyncio.run(prepare())


def _week_from_now() -> datetime:
    return utcnow() + pagelinks.LIFETIME


def _reader(openid: str) -> Reader:
    """A WeChat reader who wrote an hour ago."""
    return Reader(1, "wechat", openid, True, "instant", utcnow() - timedelta(hours=1), 5)
