"""The review on Telegram (bot/telegram/review_handlers.py), through the real PTB application
and the fake Bot API: the preview's 编辑 button and review link, the admin's reply replacing
the digest and reaching readers, a malformed reply refused with its line, and 重新生成 asking
before it replaces an edit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.container import Services
from digests.summarize import digesting
from tests.fake_telegram import FakeTelegram, running_bot
from tests.test_telegram import ADMIN, ALICE, outbox_idle, said, subscribe, until

PUBLIC = "2026-02-20-public-new-year"
FIX = "作者订正：节后先看量能"


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[tuple[FakeTelegram, Services]]:
    async with running_bot(database_url, ADMIN) as pair:
        yield pair


def edit_text(fake: FakeTelegram) -> str:
    """The compact text 编辑 sent the admin last."""
    return next(t for t in reversed(fake.inbox.get(ADMIN, [])) if t.startswith("#编辑"))


async def revision(services: Services) -> int:
    ctx = services.digest_context()
    row = await digesting.digest_post(ctx, await digesting.find_post(ctx, PUBLIC))
    return row.current_revision


async def test_edit_reply_publish_reaches_readers_in_three_taps(
    running: tuple[FakeTelegram, Services],
) -> None:
    """Preview → 编辑 (tap 1) → the admin replies with the changed text (tap 2: send) → the
    new preview's 发布 (tap 3): the reader gets the edited text. The preview also carries a
    15-minute review link."""
    fake, services = running
    await subscribe(fake, ALICE)
    fake.user_presses(ADMIN, f"regen:{PUBLIC}")
    await until(lambda: ("编辑", f"edit:{PUBLIC}") in fake.buttons(ADMIN))
    assert said(fake, ADMIN, "审阅与修改（15 分钟内有效）：http://127.0.0.1:8080/review/")()
    fake.user_presses(ADMIN, f"edit:{PUBLIC}")  # 1
    await until(lambda: any(t.startswith("#编辑") for t in fake.inbox.get(ADMIN, [])))
    text = edit_text(fake)
    assert text.startswith(f"#编辑 {PUBLIC} 第1版\n# 修改后") and "\n核心：" in text
    edited = text.replace("核心：", f"核心：{FIX}。", 1)
    fake.user_replies(ADMIN, edited, to=text)  # 2
    await until(said(fake, ADMIN, "已保存为第 2 版"))
    await until(lambda: fake.buttons(ADMIN)[:1] == [("发布", f"publish:{PUBLIC}")])
    assert await revision(services) == 2
    fake.user_presses(ADMIN, f"publish:{PUBLIC}")  # 3
    await until(said(fake, ALICE, FIX))
    await outbox_idle(services)


async def test_a_malformed_reply_names_the_line_and_changes_nothing(
    running: tuple[FakeTelegram, Services],
) -> None:
    """A line that starts with nothing the format knows: the line and the reason come back,
    the digest stays at revision 1; a reply on a stale revision is refused too."""
    fake, services = running
    fake.user_presses(ADMIN, f"edit:{PUBLIC}")
    await until(lambda: any(t.startswith("#编辑") for t in fake.inbox.get(ADMIN, [])))
    text = edit_text(fake)
    fake.user_replies(ADMIN, text + "\n随手写的一行", to=text)
    await until(said(fake, ADMIN, "没有保存：第 "))
    assert said(fake, ADMIN, "「随手写的一行」：看不懂这一行")()
    assert said(fake, ADMIN, "摘要保持原样")() and await revision(services) == 1
    fake.user_replies(ADMIN, text.replace("核心：", "核心：甲", 1), to=text)
    await until(said(fake, ADMIN, "已保存为第 2 版"))
    fake.user_replies(ADMIN, text.replace("核心：", "核心：乙", 1), to=text)  # made on 1
    await until(said(fake, ADMIN, "revision 2 has been saved since"))
    assert await revision(services) == 2


async def test_regenerating_an_edited_digest_asks_first(
    running: tuple[FakeTelegram, Services],
) -> None:
    """重新生成 after an edit answers with a question and a 仍然重新生成 button; pressing it
    makes revision 3 from the model, the edit kept as revision 2."""
    fake, services = running
    fake.user_presses(ADMIN, f"edit:{PUBLIC}")
    await until(lambda: any(t.startswith("#编辑") for t in fake.inbox.get(ADMIN, [])))
    text = edit_text(fake)
    fake.user_replies(ADMIN, text.replace("核心：", f"核心：{FIX}", 1), to=text)
    await until(said(fake, ADMIN, "已保存为第 2 版"))
    fake.user_presses(ADMIN, f"regen:{PUBLIC}")
    await until(said(fake, ADMIN, "要重新生成吗"))
    assert fake.buttons(ADMIN) == [("仍然重新生成", f"regen_edit:{PUBLIC}")]
    assert await revision(services) == 2
    fake.user_presses(ADMIN, f"regen_edit:{PUBLIC}")
    await until(lambda: ("编辑", f"edit:{PUBLIC}") in fake.buttons(ADMIN))
    assert await revision(services) == 3


async def test_a_fix_of_a_published_digest_goes_to_readers_again_with_one_press(
    running: tuple[FakeTelegram, Services],
) -> None:
    """Published and read; 编辑, the reply, 发布 on the new preview: the reader gets the fixed
    text (a round of --again without typing it); 发布 once more sends nothing."""
    fake, services = running
    await subscribe(fake, ALICE)
    fake.user_presses(ADMIN, f"publish:{PUBLIC}")
    await until(said(fake, ALICE, "节后第一篇"))
    fake.user_presses(ADMIN, f"edit:{PUBLIC}")
    await until(lambda: any(t.startswith("#编辑") for t in fake.inbox.get(ADMIN, [])))
    text = edit_text(fake)
    fake.user_replies(ADMIN, text.replace("核心：", f"核心：{FIX}。", 1), to=text)
    await until(said(fake, ADMIN, "已保存为第 2 版"))
    fake.user_presses(ADMIN, f"publish:{PUBLIC}")
    await until(said(fake, ALICE, FIX))
    await until(said(fake, ADMIN, "已再次发布"))
    fake.user_presses(ADMIN, f"publish:{PUBLIC}")
    await until(said(fake, ADMIN, "已发布（"))
    await outbox_idle(services)
    assert sum(FIX in t for t in fake.inbox[ALICE]) == 1
