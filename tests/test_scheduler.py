"""The scheduler's jobs, called directly: polling previews new posts to the admins, pending
summaries are retried, expiry notices go out; the scheduler holds the jobs in TIMEZONE."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from bot.console import ConsoleChannel
from bot.container import Services, open_services
from bot.scheduler import build_scheduler, expiry_job, poll_job, retry_job
from digests.outbox.running import SendLoop
from digests.readers import account, passwords, periods
from digests.replies import Reply
from digests.settings import Settings
from digests.summarize.llm import LLM
from tests.conftest import EXAMPLES
from tests.fake_llm import GOOD, completion, error, fake_llm


@pytest.fixture
async def services(database_url: str, tmp_path: Path) -> AsyncIterator[Services]:
    """POSTS_DIR is a folder the test writes into; no LLM unless a test sets one."""
    posts = tmp_path / "posts"
    posts.mkdir()
    settings = Settings(
        _env_file=None,
        database_url=database_url,  # type: ignore[call-arg]
        posts_dir=posts,
        poll_interval_minutes=7,
    )
    async with open_services(settings) as opened:
        yield opened


async def test_poll_job_previews_new_posts_to_admins_once(services: Services) -> None:
    """A new file in POSTS_DIR → one preview with the review buttons; the next poll, none."""
    told: list[Reply] = []

    async def notify(reply: Reply) -> None:
        told.append(reply)

    assert services.settings.posts_dir is not None
    seed = (EXAMPLES / "2-10-zhui-zong.md").read_text(encoding="utf-8")
    (services.settings.posts_dir / "seed.md").write_text(seed, encoding="utf-8")
    await poll_job(services, notify)
    await poll_job(services, notify)
    assert len(told) == 1 and told[0].digest is not None
    assert [label for label, _ in told[0].choices] == ["发布", "重新生成", "丢弃"]


async def test_poll_with_an_impossible_date_previews_the_rest_on_every_run(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """A file dated 2026-02-30 in POSTS_DIR is logged as failed on each poll; the good post
    next to it is stored and previewed once, and no poll raises."""
    told: list[Reply] = []

    async def notify(reply: Reply) -> None:
        told.append(reply)

    assert services.settings.posts_dir is not None
    bad = "---\ntitle: 坏日期\ndate: 2026-02-30 10:00:00\n---\n正文"
    (services.settings.posts_dir / "a-bad.md").write_text(bad, encoding="utf-8")
    seed = (EXAMPLES / "2-10-zhui-zong.md").read_text(encoding="utf-8")
    (services.settings.posts_dir / "b-seed.md").write_text(seed, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        await poll_job(services, notify)
        await poll_job(services, notify)
    assert len(told) == 1 and told[0].digest is not None
    failures = [r.getMessage() for r in caplog.records if "a-bad.md" in r.getMessage()]
    assert len(failures) == 2 and "is not a real date" in failures[0]


async def test_retry_job_tells_admins_when_a_pending_summary_is_made(services: Services) -> None:
    """An LLM outage leaves the post pending; once the server is back the retry job makes the
    digest and the admins get the preview."""
    told: list[Reply] = []

    async def notify(reply: Reply) -> None:
        told.append(reply)

    with fake_llm() as server:
        client = AsyncOpenAI(api_key="t", base_url=server.base_url, max_retries=0)
        services.llm = LLM(client, model="fake-model", max_output_tokens=500)
        services.settings.summary_retry_minutes = 0
        server.handler = lambda request: error(503)
        assert services.settings.posts_dir is not None
        seed = (EXAMPLES / "2-10-zhui-zong.md").read_text(encoding="utf-8")
        (services.settings.posts_dir / "seed.md").write_text(seed, encoding="utf-8")
        await poll_job(services, notify)
        assert "摘要暂时无法生成" in told[0].text
        server.handler = lambda request: completion(GOOD)
        await retry_job(services, notify)
        await client.close()
    assert told[-1].digest is not None and told[-1].digest.digest.headline == GOOD["headline"]


async def test_expiry_job_and_the_schedule(services: Services) -> None:
    """The expiry job queues and sends notices; the scheduler holds every job, in TIMEZONE,
    the edition on DIGEST_SCHEDULE with crontab weekdays (1-5 = Monday to Friday)."""
    actx = services.admin_context()
    today = date.today()
    await periods.add_password(
        actx.store, "pw", today - timedelta(days=20), today + timedelta(days=1)
    )
    reader, _ = await account.register(actx.store, channel="console", external_id="alice")
    await passwords.unlock(actx.store, reader, "pw")
    channel = ConsoleChannel()
    await expiry_job(
        services, SendLoop(services.store_context(), services.kinds, {"console": channel})
    )
    assert "天内结束" in channel.inbox["alice"][0]

    async def notify(reply: Reply) -> None:
        pass

    scheduler = build_scheduler(services, notify, {})
    jobs = {job.id: job for job in scheduler.get_jobs()}
    expected = {"poll", "retry", "deliver", "expiry", "reminders", "edition", "closures", "audit"}
    assert set(jobs) == expected  # "audit": the record's daily pruning (no weekly report unset)
    assert str(jobs["edition"].trigger.fields[4]) == "mon,tue,wed,thu,fri"
    assert jobs["poll"].trigger.interval == timedelta(minutes=7)
    assert str(jobs["expiry"].trigger.timezone) == "Asia/Shanghai"
