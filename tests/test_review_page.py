"""/review/{token}: the admin's review page (bot/review/) on SQLite and PostgreSQL, its links
(digests/review/links.py), and the whole edit in a real browser (Debian's Chromium via
Playwright): load, edit a point, delete a stock, restore a dropped item, save, publish, and
readers get the edited text. The seed post's digest comes from a fake model over loopback
HTTP, with one invented point and one stock the post does not name for the gate to drop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import sync_playwright
from starlette.testclient import TestClient

from bot.app import build_app
from bot.console import ConsoleChannel
from bot.container import open_services
from bot.review import access
from bot.wechat import commands as wechat
from digests.ingest.core import ingest
from digests.kinds import registry
from digests.models import utcnow
from digests.outbox.dispatcher import send_queued
from digests.readers import account, pagelinks, passwords, periods
from digests.review import edit, links
from digests.settings import Settings
from digests.summarize import digesting
from tests.conftest import EXAMPLES, need
from tests.fake_llm import GOOD, completion, fake_llm
from tests.fake_telegram import TOKEN, fake_telegram
from tests.test_digest_page import CHROMIUM, served

SEED = "2-10-zhui-zong"  # the seed post (/work/shared/seeds)
ADMIN, OTHER_ADMIN, READER_CHAT = 4242, 4343, 777
INVENTED = "字节模型三月开源全部权重"  # the post says nothing of it: the gate drops it
ANSWER: dict[str, Any] = {
    **GOOD,
    "sections": [
        {**GOOD["sections"][0], "points": [*GOOD["sections"][0]["points"], INVENTED]},
        {**GOOD["sections"][1], "stocks": ["中文在线", "贵州茅台"]},
    ],
}
FIX = "CPO占比预期超过七成（作者订正）"
SCREENSHOT = Path(__file__).parent.parent / "docs" / "review-page.png"


@dataclass
class Site:
    client: TestClient
    settings: Settings
    post_id: int

    def token(self, admin_id: int = ADMIN, expires: timedelta = links.LIFETIME) -> str:
        secret = access.secret(self.settings)
        return links.make_token(secret, f"telegram:{admin_id}", self.post_id, utcnow() + expires)

    def form(self, token: str) -> dict[str, str]:
        """The page's form fields as a browser would post them unchanged."""
        page = self.client.get(f"/review/{token}").text
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
        for name, value in re.findall(r'<textarea name="([^"]+)"[^>]*>([^<]*)</textarea>', page):
            fields[name] = value
        texts = r'<input type="text" [^>]*name="([^"]+)" value="([^"]*)"'
        fields.update(re.findall(texts, page))
        return fields


def settings_for(database_url: str, telegram_root: str, llm_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=database_url,
        telegram_bot_token=TOKEN,
        telegram_api_base_url=telegram_root,
        telegram_admin_ids=[ADMIN, OTHER_ADMIN],
        wechat_admin_openids=["o-admin"],
        openai_base_url=llm_url,
        digest_model="fake",
        llm_max_retries=0,
    )


async def _prepare(settings: Settings) -> int:
    """Samples ingested, alice (console) unlocked for February, the seed digested."""
    async with open_services(settings) as services:
        [_ async for _ in ingest([str(EXAMPLES)], services.ingest_context())]
        actx = services.admin_context()
        await periods.add_password(
            actx.store, "ld2602", date(2026, 2, 1), date(2026, 2, 28), "2026-02"
        )
        alice, _ = await account.register(actx.store, channel="console", external_id="alice")
        await passwords.unlock(actx.store, alice, "ld2602")
        post = await digesting.find_post(actx.digests, SEED)
        row = await digesting.digest_post(actx.digests, post)
        assert INVENTED in str(row.dropped) and "贵州茅台" in str(row.dropped)
        return post.id or 0


async def _deliver(settings: Settings) -> ConsoleChannel:
    async with open_services(settings, migrate=False) as services:
        channel = ConsoleChannel()
        await send_queued(services.store_context(), registry(), {"console": channel})
        return channel


@pytest.fixture
def site(database_url: str) -> Iterator[Site]:
    """The app with the seed post digested by the fake model, on each database."""
    with fake_telegram() as telegram, fake_llm() as llm:
        llm.handler = lambda request: completion(ANSWER)
        settings = settings_for(database_url, telegram.root, llm.base_url)
        post_id = asyncio.run(_prepare(settings))
        with TestClient(build_app(settings)) as client:
            yield Site(client, settings, post_id)


def assert_refused(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status
    assert "无法打开审阅页" in answer.text and "CPO" not in answer.text
    assert answer.headers["cache-control"] == "private, no-store"


def test_the_page_shows_every_line_beside_its_sentences(site: Site) -> None:
    """Each point sits beside the post's sentences it cites; what the gate dropped is listed
    with its reason and a box to restore it; POSTs go to this site only (CSP)."""
    answer = site.client.get(f"/review/{site.token()}")
    assert answer.status_code == 200, answer.text
    page = answer.text
    assert "审阅：2.10科技大爆发" in page and "摘要第 1 版" in page
    assert re.search(r'<div class="src"><p>\[\d+\] [^<]*CPO', page)  # a point's source
    assert INVENTED in page and 'name="restore.points.0"' in page and "闸门：" in page
    assert 'name="section.1.stock.0"' in page and '<option value="delete">删除</option>' in page
    assert "form-action 'self'" in answer.headers["content-security-policy"]


def test_expired_forged_reader_and_former_admin_links_get_nothing(site: Site) -> None:
    """An expired link is gone (410); an altered, foreign-key, reader's page link or a link of
    an admin no longer listed is refused (403); none shows the digest."""
    assert_refused(site.client.get(f"/review/{site.token(expires=-timedelta(seconds=1))}"), 410)
    good = site.token()
    body, mac = good.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "Q")
    later = utcnow() + links.LIFETIME
    alien = links.make_token(b"another key", f"telegram:{ADMIN}", site.post_id, later)
    reader = pagelinks.make_token(
        pagelinks.page_secret(site.settings), 1, 1, utcnow() + timedelta(days=7)
    )
    stranger = site.token(admin_id=READER_CHAT)  # signed by us, but not an admin
    for forged in (f"{body}.{flipped}", alien, reader, stranger, "x", f"{good}.y"):
        assert_refused(site.client.get(f"/review/{forged}"), 403)
        assert_refused(site.client.post(f"/review/{forged}", data={"headline": "x"}), 403)


def test_a_post_without_the_csrf_token_saves_nothing(site: Site) -> None:
    """The page's form posted without (or with another page's) CSRF token: 403, revision 1."""
    token = site.token()
    fields = site.form(token)
    fields["headline"] = "被篡改"
    for csrf in ("", links.csrf_token(access.secret(site.settings), site.token(OTHER_ADMIN))):
        answer = site.client.post(f"/review/{token}", data={**fields, "csrf": csrf})
        assert_refused(answer, 403)
    assert "摘要第 1 版" in site.client.get(f"/review/{token}").text


def test_two_admins_save_at_once_the_second_is_refused_and_keeps_its_text(site: Site) -> None:
    """Both load revision 1; the first save is revision 2; the second is refused (409) with
    what the first changed, its own text still in the form; revision 2 stands."""
    mine, theirs = site.token(ADMIN), site.token(OTHER_ADMIN)
    first, second = site.form(mine), site.form(theirs)
    first["headline"] = "第一位管理员的核心观点"
    second["headline"] = "第二位管理员的核心观点"
    saved = site.client.post(f"/review/{mine}", data=first, follow_redirects=False)
    assert saved.status_code == 303
    refused = site.client.post(f"/review/{theirs}", data=second, follow_redirects=False)
    assert refused.status_code == 409
    assert "没有保存" in refused.text and "第 2 版" in refused.text
    assert "第二位管理员的核心观点" in refused.text  # nothing lost: still in the form
    now = site.client.get(f"/review/{mine}").text
    assert "摘要第 2 版" in now and "第一位管理员的核心观点" in now


def test_a_line_the_schema_refuses_comes_back_with_the_reason(site: Site) -> None:
    """A citation that is not numbers and an empty headline: 422, the reasons, the author's
    other changes still there, nothing saved."""
    token = site.token()
    fields = site.form(token)
    fields |= {"headline": "", "section.0.point.0.cites": "第三句", "risk.new": "新风险"}
    answer = site.client.post(f"/review/{token}", data=fields)
    assert answer.status_code == 422 and "引用要写成" in answer.text
    assert "新风险" in answer.text
    assert "摘要第 1 版" in answer.text


def test_the_edit_in_a_real_browser(database_url: str) -> None:
    """Chromium: open the admin's link, rewrite a point, delete a stock, restore the dropped
    point, save (the gate's warning shows, the save stands), publish; the reader gets the
    edited text and not the deleted stock. SQLite only: the page logic is covered on both."""
    need(CHROMIUM.exists(), "REQUIRE_BROWSER", "Debian's chromium is not installed")
    if "sqlite" not in database_url:
        pytest.skip("the browser test runs on SQLite")
    with fake_telegram() as telegram, fake_llm() as llm:
        llm.handler = lambda request: completion(ANSWER)
        settings = settings_for(database_url, telegram.root, llm.base_url)
        post_id = asyncio.run(_prepare(settings))
        with served(build_app(settings)) as base, sync_playwright() as playwright:
            token = links.make_token(
                access.secret(settings), f"telegram:{ADMIN}", post_id, utcnow() + links.LIFETIME
            )
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                loaded = page.goto(f"{base}/review/{token}")
                assert loaded is not None and loaded.status == 200
                page.fill('textarea[name="section.0.point.1.text"]', FIX)
                page.select_option('select[name="section.1.stock.0"]', "delete")  # 中文在线
                page.check('input[name="restore.points.0"]')  # the invented point, on purpose
                page.click('button[value="save"]')
                page.wait_for_selector(".notice.ok")
                text = page.inner_text("main")
                assert "摘要第 2 版" in text and "已保存" in text
                assert "闸门的意见" in text and INVENTED in text  # warned, not blocked
                page.screenshot(path=str(SCREENSHOT))  # the top of the page, for docs/
                page.click('button[value="save"]')  # nothing changed: refused politely
                assert "没有改动" in page.inner_text(".notice.ok")
                page.goto(f"{base}/review/{token}")
                page.click("text=发布第 2 版")
                page.wait_for_selector(".notice.ok")
                assert "已发布" in page.inner_text(".notice.ok")
                assert not errors, errors
            finally:
                browser.close()
        inbox = asyncio.run(_deliver(settings)).inbox["alice"]
    assert len(inbox) == 1
    assert FIX in inbox[0] and INVENTED in inbox[0]
    stocks = [line for line in inbox[0].splitlines() if line.startswith("标的：")]
    assert stocks and not any("中文在线" in line for line in stocks)


async def _wechat_publish(settings: Settings, openid: str, words: str = f"发布 {SEED}") -> str:
    async with open_services(settings, migrate=False) as services:
        answer = await wechat.on_text(
            services.admin_context(),
            openid,
            words,
            base_url="https://digest.example",
            admins=["o-admin"],
            page_secret=pagelinks.page_secret(settings),
        )
        return answer.text


def test_wechat_admins_publish_carries_the_review_link_and_a_fix_goes_again(site: Site) -> None:
    """An admin's 发布 on WeChat answers with a 15-minute review link of their own, which opens
    the page; a fix saved there and published goes to the reader again (the text they had
    is not the fixed one); a reader's 发布 gets no link."""
    answer = asyncio.run(_wechat_publish(site.settings, "o-admin"))
    assert "已发布" in answer
    found = re.search(r"https://digest\.example/review/(\S+)", answer)
    assert found is not None
    token = found.group(1)
    assert site.client.get(f"/review/{token}").status_code == 200
    link = links.open_token(access.secret(site.settings), token)
    assert link is not None and link.admin == "wechat:o-admin"
    assert "/review/" not in asyncio.run(_wechat_publish(site.settings, "o-reader"))
    first = asyncio.run(_deliver(site.settings)).inbox["alice"]
    fields = site.form(token) | {"section.0.point.1.text": FIX, "then": "publish"}
    published = site.client.post(f"/review/{token}", data=fields)
    assert published.status_code == 200 and "已再次发布" in published.text
    again = asyncio.run(_deliver(site.settings)).inbox["alice"]
    assert FIX not in first[0] and len(again) == 1 and FIX in again[0]


def test_wechat_regenerating_an_edited_digest_asks_first(site: Site) -> None:
    """An admin's 重新生成 of an edited digest on WeChat answers with the question and the
    words that confirm it; 仍然重新生成 replaces the edit (revision 3), the preview carrying
    the admin's review link."""
    token = site.token()
    fields = site.form(token) | {"headline": "管理员改过的核心观点"}
    assert site.client.post(f"/review/{token}", data=fields).status_code == 200
    asked = asyncio.run(_wechat_publish(site.settings, "o-admin", f"重新生成 {SEED}"))
    assert "要重新生成吗" in asked and f"仍然重新生成 {SEED}" in asked
    assert "摘要第 2 版" in site.client.get(f"/review/{token}").text
    done = asyncio.run(_wechat_publish(site.settings, "o-admin", f"仍然重新生成 {SEED}"))
    assert "预览《2.10科技大爆发" in done and "/review/" in done
    assert "摘要第 3 版" in site.client.get(f"/review/{token}").text


def test_an_admins_message_opening_with_the_edit_header_is_that_digests_edit(site: Site) -> None:
    """The compact text sent back whole, header and all (no reply needed; the header names the
    digest and revision), on WeChat as on Telegram: revision 2 and the new preview with the
    review link; a malformed line is refused with its number; a reader's copy is no edit."""

    async def compact() -> str:
        async with open_services(site.settings, migrate=False) as services:
            return await edit.as_text(services.digest_context(), SEED)

    text = asyncio.run(compact())
    broken = asyncio.run(_wechat_publish(site.settings, "o-admin", text + "\n乱写一行"))
    assert "没有保存：第 " in broken and "乱写一行" in broken and "摘要保持原样" in broken
    changed = text.replace("核心：", "核心：整段发回的修改。", 1)
    saved = asyncio.run(_wechat_publish(site.settings, "o-admin", changed))
    assert "已保存为第 2 版" in saved and "预览《" in saved and "/review/" in saved
    assert "摘要第 2 版" in site.client.get(f"/review/{site.token()}").text
    assert "已保存" not in asyncio.run(_wechat_publish(site.settings, "o-reader", changed))
