"""Digest revisions and edits (digests/review/) on SQLite and PostgreSQL: an edit is a new
revision that publishing, republishing, editions, search and the audit use; a regeneration
asks before replacing it; a save on a stale revision is refused and the first stands; the
compact text reads back what it wrote, and a malformed line names itself."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.console import ConsoleChannel
from bot.container import open_services
from digests import store
from digests.archive import search
from digests.errors import EditedDigest, StaleRevision
from digests.kinds import registry
from digests.models import Publication, utcnow
from digests.outbox.dispatcher import send_queued
from digests.outbox.editions import make_edition
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readership import audit
from digests.review import edit, plain
from digests.review.edit import Refused
from digests.review.revisions import Saved
from digests.settings import Settings
from digests.summarize import digesting
from digests.summarize.schema import Claim, Digest
from tests.conftest import EXAMPLES, reader

SEED = "2-10-zhui-zong"  # the seed post (/work/shared/seeds), gated
PUBLIC = "2026-02-20-public-new-year"
FIX = "作者修订：光模块订单超预期"


async def opened(actx: AdminContext, slug: str = PUBLIC) -> edit.Review:
    post = await digesting.find_post(actx.digests, slug)
    return await edit.open_review(actx.digests, post.id or 0)


def with_point(digest: Digest, text: str, cites: list[int] | None = None) -> Digest:
    """The digest with its first section's first point rewritten."""
    changed = digest.model_copy(deep=True)
    changed.sections[0].points[0] = Claim(text=text, cites=cites or [])
    return changed


async def test_an_edit_is_the_next_revision_and_what_publishing_sends(actx: AdminContext) -> None:
    """An edit saves revision 2 (author, changes, the gate's warning on the unsupported line),
    marks the digest edited in its JSON, is what readers get and what search finds; the audit
    names revision 2 for each reader."""
    await reader(actx, "alice")
    review = await opened(actx)
    assert review.row.current_revision == 1 and not review.row.edited
    saved = await edit.submit(
        actx.digests,
        review,
        with_point(review.digest, FIX),
        base=1,
        author="telegram:1",
    )
    assert isinstance(saved, Saved) and saved.number == 2
    assert any(FIX in line for line in saved.changes)
    assert [w["text"] for w in saved.warnings] == [FIX]  # the post does not say it: a warning
    post = await digesting.find_post(actx.digests, PUBLIC)
    row = await digesting.digest_post(actx.digests, post)
    meta = digesting.digest_json(row, post, actx.store.tz)["meta"]
    assert (meta["revision"], meta["edited"]) == (2, True)
    history = await edit.open_review(actx.digests, post.id or 0)
    assert [(r.number, r.author, r.source) for r in history.revisions] == [
        (2, "telegram:1", "edit"),
        (1, "", "model"),
    ]
    await publish.publish_post(actx, PUBLIC, by="test")
    channel = ConsoleChannel()
    assert (await send_queued(actx.store, registry(), {"console": channel})).sent == 1
    assert FIX in channel.inbox["alice"][0]
    found = await search.search(actx.store, await reader(actx, "carol"), "光模块订单超预期")
    assert "光模块订单超预期" in found.text
    async with actx.store.sessions() as session:
        publication = (await session.exec(select(Publication))).one()
    assert publication.digest_revision == 2
    rows = await audit.publication_record(actx.store, publication.id or 0)
    assert [row["revisions"] for row in rows] == [[2]]


async def test_an_edit_after_publishing_goes_out_with_again_to_those_who_had_the_old(
    actx: AdminContext,
) -> None:
    """Readers who got revision 1 keep it as sent (their page shows it); --again sends the fix
    to them, once."""
    await reader(actx, "alice")
    await publish.publish_post(actx, PUBLIC, by="test")
    channel = ConsoleChannel()
    await send_queued(actx.store, registry(), {"console": channel})
    review = await opened(actx)
    await edit.submit(actx.digests, review, with_point(review.digest, FIX), base=1, author="t:1")
    again = await publish.publish_post(actx, PUBLIC, by="test", again=True)
    assert "即时推送 1 人" in again.text
    await send_queued(actx.store, registry(), {"console": channel})
    assert [FIX in text for text in channel.inbox["alice"]] == [False, True]
    once_more = await publish.publish_post(actx, PUBLIC, by="test", again=True)
    assert "即时推送 0 人" in once_more.text


async def test_regenerating_asks_before_replacing_an_edit(actx: AdminContext) -> None:
    """重新生成 of an edited digest raises EditedDigest (the preview asks); replace_edit makes
    the model's text revision 3, the edit kept as revision 2."""
    review = await opened(actx)
    await edit.submit(actx.digests, review, with_point(review.digest, FIX), base=1, author="t:1")
    post = await digesting.find_post(actx.digests, PUBLIC)
    with pytest.raises(EditedDigest, match="revision 2"):
        await digesting.digest_post(actx.digests, post, refresh=True)
    kept = await digesting.digest_post(actx.digests, post)
    assert FIX in str(kept.data) and kept.edited
    fresh = await digesting.digest_post(actx.digests, post, refresh=True, replace_edit=True)
    assert (fresh.current_revision, fresh.edited) == (3, False) and FIX not in str(fresh.data)
    async with actx.store.sessions() as session:
        kept = await store.get_digest_revision(session=session, digest_id=fresh.id or 0, number=2)
    assert kept is not None and FIX in str(kept.data)


async def test_two_saves_on_one_revision_the_second_is_refused(actx: AdminContext) -> None:
    """Two admins save edits made on revision 1 at the same moment: one is revision 2, the
    other gets StaleRevision and changes nothing."""
    first, second = await opened(actx), await opened(actx)
    a, b = with_point(first.digest, "甲的修改"), with_point(second.digest, "乙的修改")
    results = await asyncio.gather(
        edit.submit(actx.digests, first, a, base=1, author="a"),
        edit.submit(actx.digests, second, b, base=1, author="b"),
        return_exceptions=True,
    )
    stale = [r for r in results if isinstance(r, StaleRevision)]
    saved = [r for r in results if isinstance(r, Saved)]
    assert len(stale) == 1 and len(saved) == 1 and "revision 2" in str(stale[0])
    winner = "甲的修改" if saved[0].changes and "甲" in " ".join(saved[0].changes) else "乙的修改"
    now = await opened(actx)
    assert now.row.current_revision == 2 and now.digest.sections[0].points[0].text == winner


async def test_an_edit_the_schema_refuses_saves_nothing(actx: AdminContext) -> None:
    """An empty headline, a citation past the post's end: refused with the reasons, still
    revision 1."""
    review = await opened(actx)
    bad = with_point(review.digest, "引用越界", [9999]).model_copy(update={"headline": " "})
    refused = await edit.submit(actx.digests, review, bad, base=1, author="a")
    assert isinstance(refused, Refused)
    assert any("核心观点不能为空" in p for p in refused.problems)
    assert any("原文没有第 9999 句" in p for p in refused.problems)
    assert (await opened(actx)).row.current_revision == 1


async def test_compact_text_round_trips_and_a_bad_line_names_itself(actx: AdminContext) -> None:
    """plain.to_text of the seed's digest reads back to the same digest; a bad line is
    refused with its number, the line and why; a reply edits the digest."""
    review = await opened(actx, SEED)
    text = await edit.as_text(actx.digests, SEED)
    assert text.startswith(f"#编辑 {SEED} 第1版\n# 修改后") and "\n核心：" in text
    back = plain.from_text(text)
    keys = ("headline", "summary", "sections", "risks", "events")
    assert back.model_dump(include=set(keys)) == review.digest.model_dump(include=set(keys))
    for broken, why in (
        ("· 没有板块的要点", "要点前面要有板块行"),
        ("核心：甲\n胡乱一行", "看不懂这一行"),
        ("核心：甲\n事件：美国CPI", "事件要写成"),
        ("核心：甲\n【计算机】\n· 要点 [a]", "引用要写成"),
    ):
        with pytest.raises(plain.Malformed, match=why) as caught:
            plain.from_text(broken)
        assert "第 " in str(caught.value)
    changed = text.replace("核心：", "核心：【修订】", 1)
    saved = await edit.submit_text(actx.digests, changed, replying_to=text, author="telegram:1")
    assert saved.number == 2 and (await opened(actx, SEED)).digest.headline.startswith("【修订】")
    with pytest.raises(StaleRevision):  # the same reply again: made on revision 1
        await edit.submit_text(actx.digests, changed, replying_to=text, author="telegram:1")


def test_the_digest_command_shows_the_revision_and_asks_before_regenerating(
    cli: CliRunner, database_url: str
) -> None:
    """`digest SLUG --format json` says revision 2, edited; `--refresh` of the edited digest
    refuses with the way to do it; `--refresh --replace-edit` makes revision 3."""
    assert cli.invoke(cli_app, ["ingest", str(EXAMPLES)]).exit_code == 0
    assert cli.invoke(cli_app, ["digest", PUBLIC]).exit_code == 0

    async def edited() -> None:
        settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
        async with open_services(settings, migrate=False) as services:
            review = await edit.open_review(
                services.digest_context(),
                (await digesting.find_post(services.digest_context(), PUBLIC)).id or 0,
            )
            new = with_point(review.digest, FIX)
            await edit.submit(services.digest_context(), review, new, base=1, author="cli-test")

    asyncio.run(edited())
    shown = json.loads(cli.invoke(cli_app, ["digest", PUBLIC, "--format", "json"]).stdout)
    assert (shown["meta"]["revision"], shown["meta"]["edited"]) == (2, True)
    refused = cli.invoke(cli_app, ["digest", PUBLIC, "--refresh"])
    assert refused.exit_code == 1 and "add --replace-edit" in refused.stderr
    replaced = cli.invoke(cli_app, ["digest", PUBLIC, "--refresh", "--replace-edit"])
    assert replaced.exit_code == 0 and FIX not in replaced.stdout
    shown = json.loads(cli.invoke(cli_app, ["digest", PUBLIC, "--format", "json"]).stdout)
    assert (shown["meta"]["revision"], shown["meta"]["edited"]) == (3, False)


async def test_an_edition_carries_the_fixed_text_once(actx: AdminContext) -> None:
    """Published, fixed, published again before the edition: the edition carries the post
    once, in its fixed text."""
    await reader(actx, "eve", delivery="edition")
    await publish.publish_post(actx, PUBLIC, by="test")
    review = await opened(actx)
    await edit.submit(actx.digests, review, with_point(review.digest, FIX), base=1, author="t:1")
    await publish.publish_post(actx, PUBLIC, by="test", again=True)
    edition, queued = await make_edition(actx.store, utcnow() + timedelta(minutes=1))
    assert edition is not None and queued == 1 and len(edition.publication_ids) == 1
    channel = ConsoleChannel()
    await send_queued(actx.store, registry(), {"console": channel})
    [text] = channel.inbox["eve"]
    assert "合集：1 篇摘要" in text and FIX in text, text
