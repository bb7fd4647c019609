"""/d/{token}: the digest page for WeChat readers, on SQLite and PostgreSQL; signed links
(digests/readers/pagelinks.py); and the page in a real browser (Debian's Chromium via
Playwright)."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import sync_playwright
from pydantic import SecretStr
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.app import build_app
from bot.container import open_services
from bot.pages import html_page
from digests import fingerprint
from digests.ingest.core import ingest
from digests.models import Post, Publication, Subscriber, utcnow
from digests.publishing import publish
from digests.readers import account, pagelinks, passwords, periods
from digests.render import Line
from digests.settings import Settings
from tests.conftest import EXAMPLES, need
from tests.fake_telegram import TOKEN, fake_telegram

GATED, PUBLIC = "2-10-zhui-zong", "2026-02-20-public-new-year"
TITLE = "2.10科技大爆发"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = Path(__file__).parent.parent / "docs" / "digest-page.png"
SECRET = b"k" * 32  # for the pure pagelinks tests
WEEK = timedelta(days=7)


@dataclass
class Site:
    """The running app and the ids the tests sign links for."""

    client: TestClient
    settings: Settings
    alice: int  # unlocked February
    bob: int  # registered, no grant
    gated: int  # publication ids
    public: int

    def token(self, subscriber: int, publication: int, expires: timedelta = WEEK) -> str:
        """A link signed the way the app signs them, expiring `expires` from now."""
        secret = pagelinks.page_secret(self.settings)
        return pagelinks.make_token(secret, subscriber, publication, utcnow() + expires)

    def open(self, subscriber: int, publication: int, expires: timedelta = WEEK) -> httpx.Response:
        return self.client.get(f"/d/{self.token(subscriber, publication, expires)}")


def resigned(good: str, payload: str) -> str:
    """`good`'s signature over another payload: what a forger would try."""
    body = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    return f"{body}.{good.split('.')[1]}"


def settings_for(database_url: str, telegram_root: str) -> Settings:
    # Telegram on (its token is what page links are signed with), against the loopback fake
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=telegram_root,
    )


async def _prepare(settings: Settings) -> tuple[int, int, int, int]:
    """Samples ingested, February's password, alice unlocked, bob not, both posts published."""
    async with open_services(settings) as services:
        [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
        actx = services.admin_context()
        await periods.add_password(
            actx.store, "ld2602", date(2026, 2, 1), date(2026, 2, 28), "2026-02"
        )
        alice, _ = await account.register(actx.store, channel="wechat", external_id="o-alice")
        bob, _ = await account.register(actx.store, channel="wechat", external_id="o-bob")
        await passwords.unlock(actx.store, alice, "ld2602")
        for slug in (GATED, PUBLIC):
            await publish.publish_post(actx, slug, by="test")
        async with actx.store.sessions() as session:
            rows = await session.exec(select(Post.slug, Publication.id).join(Publication))
            ids = dict(rows.all())
    assert alice.id is not None and bob.id is not None
    return alice.id, bob.id, ids[GATED] or 0, ids[PUBLIC] or 0


async def _stop(settings: Settings, subscriber_id: int) -> None:
    async with open_services(settings, migrate=False) as services:
        ctx = services.store_context()
        async with ctx.sessions() as session:
            subscriber = await session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        await account.update_settings(ctx, subscriber, status="stopped")


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    """The app with the samples published, on each database."""
    with fake_telegram() as fake:
        settings = settings_for(database_url, fake.root)
        ids = asyncio.run(_prepare(settings))
        with TestClient(build_app(settings)) as client:
            yield Site(client, settings, *ids)


def assert_private(answer: httpx.Response) -> None:
    assert answer.headers["cache-control"] == "private, no-store"
    assert answer.headers["x-robots-tag"] == "noindex"
    assert answer.headers["referrer-policy"] == "no-referrer"
    csp = answer.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; style-src 'unsafe-inline'")


def assert_refused(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status
    assert "获取新的链接" in answer.text and TITLE not in answer.text
    assert "通信" not in answer.text and "仅供参考" not in answer.text
    assert_private(answer)


def test_a_valid_token_shows_the_whole_digest_privately(site: Site) -> None:
    """The entitled reader gets a mobile HTML page with every part of the digest, uncached,
    unindexed, without referrer, under a strict CSP."""
    answer = site.open(site.alice, site.gated)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    page = fingerprint.strip(answer.text)  # the reader's marks (tests/test_fingerprint.py)
    assert page.startswith("<!DOCTYPE html>") and f"<title>{TITLE}" in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert ". 通信</h2>" in page and "<b>标的：</b>天孚通信" in page
    assert '<blockquote class="source">' in page  # each point's sentences, on a tap
    assert "<h2>风险</h2>" in page and "<h2>事件</h2>" in page and "<li>CPI（周五）</li>" in page
    assert "仅供参考，不构成投资建议" in page and "自动摘录自原文" in page
    assert_private(answer)


def test_an_expired_token_gets_410_and_no_content(site: Site) -> None:
    """A genuine link past its expiry is refused as gone, with a way to get a new one."""
    answer = site.open(site.alice, site.gated, expires=-timedelta(seconds=1))
    assert_refused(answer, 410)
    assert "链接已过期" in answer.text


def test_a_tampered_or_foreign_token_gets_403(site: Site) -> None:
    """A changed signature, a changed payload, another key's token or junk: all refused."""
    good = site.token(site.alice, site.gated)
    body, mac = good.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "Q")
    later = resigned(good, f"{site.alice}:{site.gated}:{int(time.time()) + 10**8}")
    alien = pagelinks.make_token(b"another key", site.alice, site.gated, utcnow() + WEEK)
    for forged in (f"{body}.{flipped}", later, alien, "abc", f"{good}.x"):
        assert_refused(site.client.get(f"/d/{forged}"), 403)


def test_a_token_is_bound_to_its_subscriber_and_their_entitlement(site: Site) -> None:
    """Alice's link to the gated digest is hers alone: rewritten for bob it fails; bob's own,
    validly signed link fails too (no grant), though his public one works; once alice stops,
    her link fails; an unknown publication is refused."""
    alices = site.token(site.alice, site.gated)
    assert site.client.get(f"/d/{alices}").status_code == 200
    link = pagelinks.open_token(pagelinks.page_secret(site.settings), alices)
    assert link is not None
    expiry = int(link.expires_at.timestamp())
    assert_refused(
        site.client.get(f"/d/{resigned(alices, f'{site.bob}:{site.gated}:{expiry}')}"), 403
    )
    assert_refused(site.open(site.bob, site.gated), 403)
    assert site.open(site.bob, site.public).status_code == 200
    assert_refused(site.open(site.alice, 999_999), 403)
    asyncio.run(_stop(site.settings, site.alice))
    assert_refused(site.client.get(f"/d/{alices}"), 403)


def test_tokens_round_trip_until_their_expiry_second() -> None:
    """read_token gives back the ids until the expiry second, then None; URL-safe, no padding."""
    expiry = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    made = pagelinks.make_token(SECRET, 42, 7, expiry)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}", made)
    assert pagelinks.read_token(SECRET, made, expiry - timedelta(seconds=1)) == (42, 7)
    assert pagelinks.read_token(SECRET, made, expiry) is None
    assert pagelinks.read_token(b"other", made, expiry - timedelta(days=1)) is None
    link = pagelinks.open_token(SECRET, made)
    assert link is not None and link.expires_at == expiry and link.expired(expiry)


@pytest.mark.parametrize("junk", ["", ".", "a.b", "a=.b", "ab.cd.ef", "é.x", "x" * 300])
def test_malformed_tokens_read_as_none(junk: str) -> None:
    """Junk never raises, it is just not a token."""
    assert pagelinks.read_token(SECRET, junk, utcnow()) is None


def test_a_naive_expiry_is_refused() -> None:
    """A naive expiry would move with the host's time zone, so make_token refuses it."""
    with pytest.raises(ValueError, match="timezone-aware"):
        pagelinks.make_token(SECRET, 1, 1, datetime(2026, 3, 1))


def test_page_secret_comes_from_the_first_secret_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """WeChat app secret, then Telegram token, then WeChat token; none is an error."""
    for name in ("WECHAT_APP_SECRET", "TELEGRAM_BOT_TOKEN", "WECHAT_TOKEN"):
        monkeypatch.delenv(name, raising=False)

    def secret(**values: str) -> bytes:
        fields = {name: SecretStr(value) for name, value in values.items()}
        return pagelinks.page_secret(Settings(_env_file=None, **fields))  # type: ignore[call-arg, arg-type]

    both = secret(wechat_app_secret="app", telegram_bot_token=TOKEN, wechat_token="cb")
    assert both == secret(wechat_app_secret="app") != secret(wechat_token="cb")
    telegram = secret(telegram_bot_token=TOKEN, wechat_token="cb")
    assert telegram == secret(telegram_bot_token=TOKEN) != both and len(telegram) == 32
    with pytest.raises(pagelinks.PageSecretMissing, match="need a secret"):
        secret()
    assert pagelinks.page_url("https://x.example/", "t.s") == "https://x.example/d/t.s"


def test_html_page_escapes_every_text() -> None:
    """Text from posts and the model is escaped, never markup."""
    page = html_page([Line("title", "<b>A&B</b>"), Line("point", "<script>x</script>")])
    assert "<title>&lt;b&gt;A&amp;B&lt;/b&gt;</title>" in page
    assert "<ul>\n<li>&lt;script&gt;x&lt;/script&gt;</li>\n</ul>" in page
    assert "<script>" not in page


def test_a_point_shows_the_sentences_it_cites_on_a_tap() -> None:
    """A point or risk citing the post's sentences opens onto them (<details>, no script),
    escaped like everything else."""
    page = html_page([Line("point", "超大规模厂商已支持CPO", ("目前超大规模厂商已明确<支持>。",))])
    assert "<details><summary>超大规模厂商已支持CPO</summary>" in page
    assert '<blockquote class="source"><p>目前超大规模厂商已明确&lt;支持&gt;。</p>' in page


@contextmanager
def served(app: Starlette) -> Iterator[str]:
    """The app under uvicorn on 127.0.0.1 in a thread (a browser needs a real socket)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", ws="none", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def test_the_page_in_a_real_browser(tmp_path: Path) -> None:
    """Chromium shows the digest on a phone-sized screen with the inline style applied (the
    CSP allows it) and no console errors, and shows only the refusal for an expired link;
    the screenshot goes to docs/. SQLite only: the page logic is covered on both above."""
    need(CHROMIUM.exists(), "REQUIRE_BROWSER", "Debian's chromium is not installed")
    with fake_telegram() as fake:
        settings = settings_for(f"sqlite:///{tmp_path / 'page.db'}", fake.root)
        alice, _, gated, _ = asyncio.run(_prepare(settings))
        secret = pagelinks.page_secret(settings)

        def link(expires: timedelta) -> str:
            return pagelinks.make_token(secret, alice, gated, utcnow() + expires)

        with served(build_app(settings)) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                ],
            )
            try:
                phone = browser.new_context(
                    viewport={"width": 390, "height": 844},
                    device_scale_factor=2,
                    is_mobile=True,
                    color_scheme="light",
                    locale="zh-CN",
                )
                page = phone.new_page()
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                answer = page.goto(pagelinks.page_url(base, link(WEEK)))
                assert answer is not None and answer.status == 200
                assert page.title().startswith(TITLE) and ". 通信" in page.inner_text("main")
                assert page.eval_on_selector("main", "m => getComputedStyle(m).maxWidth") == "680px"
                assert not errors, errors
                page.click("details summary")  # a point's source sentence, on a tap
                assert page.inner_text("details[open] blockquote.source").strip()
                SCREENSHOT.parent.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
                expired = page.goto(pagelinks.page_url(base, link(-timedelta(seconds=1))))
                assert expired is not None and expired.status == 410
                assert "链接已过期" in page.inner_text("main") and TITLE not in page.content()
            finally:
                browser.close()
