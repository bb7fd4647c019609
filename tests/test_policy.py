"""DIGEST_POLICY: no_advice removes trading instructions (whatever the model does), sectors_only
also every stock name in every channel; the policy is part of the cache key; DISCLAIMER ends
every rendering and is required under the strict policies."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from bot.cli import app
from bot.pages import html_page
from digests import names as dictionary
from digests import render
from digests.ingest.core import IngestContext, ingest
from digests.models import StoredDigest
from digests.publishing import publish
from digests.publishing.context import AdminContext
from digests.readers import passwords, reading
from digests.summarize import digesting
from digests.summarize.digesting import DigestContext
from digests.summarize.extractive import extractive_digest
from digests.summarize.policy import DigestPolicy, PolicyRules, enforce, short_names
from digests.summarize.schema import GATES_OWN, Digest
from tests.conftest import EXAMPLES, SHANGHAI, reader
from tests.fake_llm import GOOD, FakeLLM, completion

SEED = "2-10-zhui-zong"
LEVERAGE = "节前建议卸掉融资杠杆，仓位六到七成"  # the example of what must go
# the same advice in the post's words (its sentences [91] and [92]): grounding keeps it
ADDED = "节前建议把融资杠杆卸掉，仓位6-7成比较合理"
NO_ADVICE = PolicyRules(DigestPolicy.no_advice)
SECTORS_ONLY = PolicyRules(DigestPolicy.sectors_only)
IDEAL_FILE = EXAMPLES.parent / "ideal" / f"{SEED}.json"


def ideal_with_advice() -> dict[str, Any]:
    """The seed post's ideal digest, plus the advice a model may add despite the prompt (all
    of it in the post's words, so grounding keeps it: only the policy check removes it); the
    added risk is a claim citing its sentences, as the prompt asks."""
    ideal = json.loads(IDEAL_FILE.read_text())
    answer = {key: ideal[key] for key in Digest.model_fields if key not in GATES_OWN}
    answer["risks"] = [*answer["risks"], {"text": ADDED, "cites": [91, 92]}]
    return answer


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        (LEVERAGE, True),
        ("节前有融资杠杆的建议卸掉，仓位6-7成比较合理", True),
        ("总仓位维持七成左右，不追高两会题材。", True),
        ("科技主线继续持有，回调可加。", True),
        ("下周一A股低开反而是加仓机会。", True),
        ("一旦你满仓或者带杠杆过节，万一假期美股大跌", True),
        ("重仓参与建议节前部分止盈", True),
        ("目标价 120 元，跌破 95 元止损", True),
        ("这只票今年有望翻倍，稳赚", True),
        ("CPO占比预期超70%，天孚通信属于补涨", False),
        ("中际成了机构重仓，大涨必有抛压", False),
        ("港股：周一恒生科技指数季度调整生效，被动资金会有一次调仓。", False),
        ("北向资金净买入 80 亿，净卖出集中在消费", False),
        ("美光的HBM产能已经排到了2026年底，存储今年是大年", False),
    ],
)
def test_the_term_list_tells_instructions_from_theses(text: str, advice: bool) -> None:
    """Position sizes, leverage, buy/sell points, targets and return promises are advice;
    theses and facts about other people's positions are not."""
    assert NO_ADVICE.advises(text) is advice


def test_extra_terms_extend_the_list_and_the_cache_key() -> None:
    """DIGEST_POLICY_TERMS words count as advice (after NFKC, spaces ignored), and change the
    key; `full` keeps the key of the digests made before policies existed."""
    rules = PolicyRules(DigestPolicy.no_advice, ("打板", "ＶＩＰ群"))
    assert rules.advises("明天打 板龙头") and rules.advises("进VIP群看买卖")
    assert not NO_ADVICE.advises("明天打板龙头")
    keys = {PolicyRules().key(), NO_ADVICE.key(), SECTORS_ONLY.key(), rules.key()}
    assert len(keys) == 4 and PolicyRules().key() == ""


def test_full_changes_nothing() -> None:
    """Under `full` the digest comes back as it was, nothing recorded."""
    digest = Digest.model_validate(ideal_with_advice())
    assert enforce(digest, PolicyRules(), title="t") == (digest, {})


def test_sectors_only_rewrites_a_point_without_its_names() -> None:
    """A point loses the clauses naming a stock (a short predicate after one goes with it),
    short forms the post uses ("中际") count as names, and a point left with too little goes;
    a section named after a stock is renamed, and stock codes count as names."""
    digest = Digest(
        headline="天孚通信领涨",
        summary="CPO需求扩张。300308今天涨停。",
        sections=[
            {
                "name": "中文在线/影视",
                "points": [
                    "天孚通信做核心配件、深度绑定英伟达，属于补涨；中际成了机构重仓，大涨必有抛压",
                    "液冷：英维克、飞龙股份",
                ],
                "stocks": ["天孚通信", "中文在线"],
            }
        ],
        risks=["美光财报低于预期，板块会有一次调整"],
        events=[{"title": "美光财报", "when": "3月中旬"}],
    )
    post = "天孚通信……中际成了机构重仓……中际旭创、英维克、飞龙股份、美光"
    names = ["天孚通信", "中际旭创", "英维克", "飞龙股份", "美光", "中文在线"]
    names += short_names(names, post)
    assert "中际" in names and "通信" not in names
    kept, removed = enforce(digest, SECTORS_ONLY, title="2.10 追踪", names=names)
    assert kept.sections[0].name == "影视" and kept.sections[0].stocks == []
    assert [p.text for p in kept.sections[0].points] == ["大涨必有抛压。"]
    assert kept.headline == "2.10 追踪" and kept.summary_text == "CPO需求扩张。"
    assert [r.text for r in kept.risks] == ["板块会有一次调整。"] and kept.events == []
    assert removed["policy"]["stocks"] == ["天孚通信", "中文在线"]


def test_enforce_keeps_cites_and_sources_and_hides_codes_only_under_sectors_only() -> None:
    """A claim the policy keeps keeps its cites, and the gate's sources stay; the codes stay
    under no_advice and are emptied under sectors_only, with the stock lists."""
    digest = Digest(
        headline="CPO需求扩张",
        summary=[{"text": "CPO需求扩张。", "cites": [3]}],
        sections=[
            {
                "name": "通信",
                "points": [
                    {"text": "CPO占比预期超70%", "cites": [4]},
                    {"text": "节前建议卸掉融资杠杆", "cites": [9]},
                ],
                "stocks": ["天孚通信"],
            }
        ],
        risks=[{"text": "季度报要来了，业绩不够硬股价就会软", "cites": [7, 8]}],
        events=[],
        codes={"天孚通信": "300394.SZ"},
        sources={"3": "CPO需求要扩了。", "4": "当前预期该占比将超70%。"},
    )
    for rules in (NO_ADVICE, SECTORS_ONLY):
        kept, removed = enforce(digest, rules, title="t", names=["天孚通信"])
        assert [(c.text, c.cites) for c in kept.summary] == [("CPO需求扩张。", [3])]
        assert [(c.text, c.cites) for c in kept.sections[0].points] == [("CPO占比预期超70%", [4])]
        assert [c.cites for c in kept.risks] == [[7, 8]]
        assert kept.sources == digest.sources
        assert removed["policy"]["points"] == ["节前建议卸掉融资杠杆"]
    assert enforce(digest, NO_ADVICE, title="t")[0].codes == {"天孚通信": "300394.SZ"}
    hidden = enforce(digest, SECTORS_ONLY, title="t", names=["天孚通信"])[0]
    assert hidden.codes == {} and hidden.sections[0].stocks == []


def test_sectors_only_finds_the_post_s_stocks_with_the_dictionary() -> None:
    """Under sectors_only the names to hide are the model's entries and the stocks the
    securities dictionary finds in the post, as written (an abbreviation too: 腾讯, 天孚),
    never an ordinary word (苹果 the fruit); the other policies look for none."""
    digest = Digest(
        headline="h",
        summary=[],
        sections=[{"name": "x", "points": [], "stocks": ["某某新股"]}],
        risks=[],
        events=[],
    )
    post = "龙头天孚通信，小弟腾景科技、源杰科技。天孚是做面粉的。腾讯的科华数据也在涨。苹果好吃。"
    rules = PolicyRules(DigestPolicy.sectors_only, dictionary=dictionary.load())
    found = set(rules.names(digest, "标题", post, ""))
    assert found >= {"某某新股", "天孚通信", "腾景科技", "源杰科技", "科华数据", "腾讯", "天孚"}
    assert "苹果" not in found
    assert (
        PolicyRules(DigestPolicy.no_advice, dictionary=dictionary.load()).names(
            digest, "标题", post, ""
        )
        == []
    )


async def seeded(ctx: IngestContext, **changes: Any) -> DigestContext:
    """The sample posts stored; digesting without an LLM (the extractive digest)."""
    [_ async for _ in ingest([str(EXAMPLES)], ctx)]
    return replace(DigestContext(ctx.sessions, llm=None), **changes)


async def seed_digest(dctx: DigestContext) -> tuple[Digest, StoredDigest]:
    post = await digesting.find_post(dctx, SEED)
    row = await digesting.digest_post(dctx, post)
    return Digest.model_validate(row.data), row


async def test_offline_seed_under_no_advice_keeps_sectors_and_stocks(ctx: IngestContext) -> None:
    """Without an LLM the seed post keeps 计算机/通信/传媒 and their stocks, and loses the
    leverage advice, which meta.dropped lists under `policy`."""
    full, _ = await seed_digest(await seeded(ctx))
    digest, row = await seed_digest(await seeded(ctx, rules=NO_ADVICE, disclaimer="不构成建议"))
    assert [s.name for s in digest.sections] == [s.name for s in full.sections]
    assert [s.stocks for s in digest.sections] == [s.stocks for s in full.sections]
    assert any("杠杆" in risk.text for risk in full.risks)
    assert not any("杠杆" in risk.text for risk in digest.risks)
    assert any("杠杆" in risk for risk in row.dropped["policy"]["risks"])
    assert row.policy == "no_advice" and row.status == "ready"


async def test_a_model_that_ignores_the_prompt_is_still_cleaned(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """The prompt asks for no advice; the fake model answers with it anyway and the check
    removes it: sectors and stocks stay, "节前建议把融资杠杆卸掉，仓位6-7成比较合理" goes."""
    server.answers = [completion(ideal_with_advice())]
    strict = replace(dctx, rules=NO_ADVICE, disclaimer="仅供学习交流")
    digest, row = await seed_digest(strict)
    assert "不写任何交易指令" in server.requests[0]["messages"][0]["content"]
    ideal = json.loads(IDEAL_FILE.read_text())
    assert [s.name for s in digest.sections] == [s["name"] for s in ideal["sections"]]
    assert {n for s in digest.sections for n in s.stocks} >= {"中际旭创", "天孚通信", "中文在线"}
    texts = [digest.headline, *(claim.text for claim in digest.claims())]
    assert not any(NO_ADVICE.advises(text) for text in texts)
    assert ADDED not in [r.text for r in digest.risks]
    assert ADDED in row.dropped["policy"]["risks"] and "risks" not in row.dropped
    assert (
        "影视股是节前必炒分支，节后多兑现，重仓参与建议节前部分止盈"
        in (row.dropped["policy"]["points"])
    )
    # the summary loses its sentences with 止盈 and 杠杆 to the policy (grounding kept both: a
    # summary sums up), and keeps the others
    summary = digest.summary_text
    assert summary.startswith("花旗称超大规模厂商支持CPO") and len(digest.summary) == 2
    assert "杠杆" not in summary and "止盈" not in summary
    removed = row.dropped["policy"]["summary"]
    assert removed[-1] == "本周非农周三、CPI周五，节前建议卸掉融资杠杆。"
    assert len(removed) == 2 and "止盈" in removed[0]


def renderings(digest: Digest, title: str, disclaimer: str) -> dict[str, str]:
    """The digest in every channel's form, each joined into one text."""
    kw: dict[str, Any] = {"title": title, "disclaimer": disclaimer}
    return {
        "telegram_html": "\n".join(render.telegram_html(digest, **kw)),
        "wechat_text": "\n".join(render.wechat_text(digest, **kw)),
        "wecom_markdown": "\n".join(render.wecom_markdown(digest, **kw)),
        "plain_text": render.plain_text(digest, **kw),
        "page": html_page(render.layout(digest, **kw)),
    }


def known_names() -> set[str]:
    """Every stock the seed post's lists and its ideal digest name."""
    markdown = (EXAMPLES / f"{SEED}.md").read_text()
    offline = extractive_digest("", markdown, dictionary.load())
    ideal = json.loads(IDEAL_FILE.read_text())
    names = {n for s in offline.sections for n in s.stocks}
    return names | {n for s in ideal["sections"] for n in s["stocks"]}


@pytest.mark.parametrize("with_llm", [True, False], ids=["llm", "extractive"])
async def test_sectors_only_names_no_stock_in_any_channel(
    ctx: IngestContext, server: FakeLLM, with_llm: bool
) -> None:
    """Under sectors_only the seed post's digest (the model's or the offline one) keeps its
    sectors, has empty stock lists and names no stock in any channel's rendering."""
    from tests.fake_llm import samples_digested_by

    server.answers = [completion(ideal_with_advice())]
    async with samples_digested_by(server, ctx) as llm_ctx:
        base = llm_ctx if with_llm else DigestContext(ctx.sessions, llm=None)
        dctx = replace(base, rules=SECTORS_ONLY, disclaimer="本摘要不构成投资建议")
        digest, row = await seed_digest(dctx)
        post = await digesting.find_post(dctx, SEED)
    assert len(digest.sections) >= 3 and all(s.stocks == [] for s in digest.sections)
    assert row.dropped["policy"]["stocks"]
    names = known_names()
    assert len(names) > 30
    for channel, text in renderings(digest, post.title, row.disclaimer).items():
        leaked = sorted(n for n in names if n.casefold() in text.casefold())
        assert leaked == [], channel
        assert "标的：" not in text and "本摘要不构成投资建议" in text, channel
        assert "杠杆" not in text, channel


async def test_the_policy_is_part_of_the_cache_key(dctx: DigestContext, server: FakeLLM) -> None:
    """A digest made under one policy is never reused under another: each policy costs its
    own call, and each is reused under its own policy; DISCLAIMER alone costs no call."""
    server.answers = [completion(GOOD), completion(GOOD), completion(GOOD)]
    _, full = await seed_digest(dctx)
    _, strict = await seed_digest(replace(dctx, rules=NO_ADVICE, disclaimer="甲"))
    _, again = await seed_digest(replace(dctx, rules=NO_ADVICE, disclaimer="乙"))
    _, other = await seed_digest(replace(dctx, rules=SECTORS_ONLY, disclaimer="乙"))
    assert len(server.requests) == 3
    assert len({full.cache_key, strict.cache_key, other.cache_key}) == 3
    assert again.id == strict.id and again.disclaimer == "乙"
    assert (full.policy, strict.policy, other.policy) == ("full", "no_advice", "sectors_only")
    post = await digesting.find_post(dctx, SEED)
    assert digesting.digest_json(again, post, SHANGHAI)["meta"]["policy"] == "no_advice"
    async with dctx.sessions() as session:
        stored = await session.get(StoredDigest, strict.id)
    assert stored is not None and stored.disclaimer == "乙"


async def test_a_publication_made_before_the_switch_is_read_under_the_policy_in_force(
    actx: AdminContext,
) -> None:
    """The seed post published under `full`, then read after DIGEST_POLICY became
    sectors_only: /latest shows no stock and ends with the DISCLAIMER in force."""
    member = await reader(actx, "member")
    await passwords.unlock(actx.store, member, "ld2602")
    await publish.publish_post(actx, SEED, by="test")
    before = await reading.latest(actx.store, member)
    assert before.digest is not None and before.digest.digest.sections[0].stocks
    strict = replace(actx.store, rules=SECTORS_ONLY, disclaimer="本摘要不构成投资建议")
    after = await reading.latest(strict, member)
    assert after.digest is not None
    assert all(s.stocks == [] for s in after.digest.digest.sections)
    text = render.plain_text(after.digest.digest, disclaimer=after.digest.disclaimer)
    assert not [n for n in known_names() if n in text]
    assert text.endswith("本摘要不构成投资建议")


def test_the_disclaimer_ends_every_rendering() -> None:
    """DISCLAIMER replaces the default closing line; unset, the default stays."""
    digest = Digest.model_validate(GOOD)
    for text in renderings(digest, "标题", "仅供学习交流，不构成任何投资建议").values():
        assert "仅供学习交流，不构成任何投资建议" in text and render.DISCLAIMER not in text
    assert render.plain_text(digest).endswith(render.DISCLAIMER)
    assert 'class="note disclaimer">仅供学习' in html_page(
        render.layout(digest, disclaimer="仅供学习")
    )


@pytest.mark.parametrize("policy", ["no_advice", "sectors_only"])
def test_a_strict_policy_needs_a_disclaimer(policy: str) -> None:
    """Refused when the settings are read: empty means unset, and unset is not allowed."""
    from digests.settings import Settings

    with pytest.raises(ValidationError, match="needs DISCLAIMER"):
        Settings(_env_file=None, digest_policy=policy, disclaimer="  ")  # type: ignore[call-arg]
    ok = Settings(_env_file=None, digest_policy=policy, disclaimer="不构成建议")  # type: ignore[call-arg]
    assert ok.digest_policy == policy
    with pytest.raises(ValidationError):
        Settings(_env_file=None, digest_policy="no_stocks")  # type: ignore[call-arg]


def test_the_cli_says_so_and_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`digestbot` with DIGEST_POLICY=no_advice and no DISCLAIMER: one sentence, exit 2."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DIGEST_POLICY", "no_advice")
    monkeypatch.setenv("DISCLAIMER", "")
    result = CliRunner().invoke(app, ["posts"])
    assert result.exit_code == 2
    assert "DIGEST_POLICY=no_advice needs DISCLAIMER" in result.output
    assert "Traceback" not in result.output
