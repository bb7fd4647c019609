"""The fidelity bench's scoring on small hand-made digests, its ideals against their posts, and
its offline run over examples/ideal (the extractive digest: no server)."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from bench.fidelity import IDEALS, POSTS, dropped_count, non_post, overall, run, score
from digests.ingest.hexo import read_post_file
from digests.settings import Settings
from digests.summarize.schema import Digest, Event, Section
from tests.fake_llm import Reply, completion, fake_llm

POST = "美光出局。标的：兆易创新、北京君正、江波龙。NVIDIA 与 Coherent 受益。"
POST += "美国非农周五，CPI下周三。"
IDEAL: dict[str, Any] = {
    "sections": [
        {"name": "存储/HBM", "points": [], "stocks": ["兆易创新", "北京君正", "江波龙"]},
        {"name": "CPO", "points": [], "stocks": ["Coherent"]},
    ],
    "events": [{"title": "美国非农/非农", "when": "周五"}, {"title": "CPI", "when": "下周三"}],
    "also_ok": ["NVIDIA"],
    "aliases": {"Cohr": "Coherent"},
}


def digest(stocks: list[str], events: list[tuple[str, str]], name: str = "存储板块") -> Digest:
    return Digest(
        headline="h",
        summary="s",
        sections=[Section(name=name, points=[], stocks=stocks)],
        risks=[],
        events=[Event(title=t, when=w) for t, w in events],
    )


def test_precision_and_recall_with_aliases_and_optional_names() -> None:
    """An alias counts as its stock, an `also_ok` name neither helps nor hurts, others hurt."""
    got = score("p", POST, digest(["兆易创新", "Cohr", "nvidia", "阿里数据港"], []), IDEAL)
    assert (got.stocks_found, got.stocks_ideal) == (2, 4)
    assert (got.stocks_right, got.stocks_listed) == (2, 3)
    assert got.stocks_wrong == ["阿里数据港"]
    assert got.recall == 0.5 and got.precision == 2 / 3
    assert (got.sections_found, got.sections_ideal) == (1, 2)  # "存储板块" contains "存储"


def test_no_stocks_gives_no_ratio() -> None:
    """A digest listing nothing has no precision rather than a made-up one."""
    got = score("p", POST, digest([], []), {**IDEAL, "sections": []})
    assert got.precision is None and got.recall is None


def test_events_right_misdated_and_invented() -> None:
    """An event counts when its title matches and the post's date is kept; 周三 is not
    下周三; a title no ideal event has is invented."""
    events = [("美国非农数据", "周五晚"), ("美国CPI", "周三"), ("卖方小熊的总结", "周五")]
    got = score("p", POST, digest([], events), IDEAL)
    assert (got.events_right, got.events_ideal) == (1, 2)
    assert got.events_invented == ["卖方小熊的总结 (周五)"]


def test_non_post_stock_strings() -> None:
    """Joined names, names absent from the post, and Latin names inside a longer word are not
    whole names in the post; a name in full-width or another case is."""
    assert non_post("兆易创新、北京君正", POST)
    assert non_post("WPS", POST)
    assert non_post("Nvid", POST)
    assert not non_post("ＮＶＩＤＩＡ", POST)
    assert not non_post("江波龙", POST)
    got = score("p", POST, digest(["江波龙", "兆易创新，北京君正"], []), IDEAL)
    assert got.non_post_stocks == ["兆易创新，北京君正"]


def test_dropped_count_adds_lists_and_size_cuts() -> None:
    """Every dropped text and every field cut for size counts once."""
    assert dropped_count({"stocks": ["WPS"], "points": ["a", "b"], "over_limit": {"risks": 2}}) == 5


def test_every_ideal_has_its_post_and_names_only_what_the_post_says() -> None:
    """Each ideal's slug is a sample post, and its stocks, optional names and event dates are
    whole names in that post."""
    slugs = {read_post_file(p, tz=ZoneInfo("Asia/Shanghai")).slug: p for p in POSTS.glob("*.md")}
    for path in IDEALS.glob("*.json"):
        ideal = json.loads(path.read_text(encoding="utf-8"))
        Digest.model_validate(ideal)
        text = slugs[path.stem].read_text(encoding="utf-8")
        names = [s for sec in ideal["sections"] for s in sec["stocks"]] + ideal["also_ok"]
        assert [n for n in names + list(ideal["aliases"]) if non_post(n, text)] == [], path.name
        for event in ideal["events"]:
            assert any(w in text for w in event["when"].split("/")), (path.name, event)


async def test_offline_run_scores_every_ideal() -> None:
    """With no server the extractive digest is scored for every ideal, without a failure."""
    scores = await run(Settings(openai_base_url=None, openai_api_key=None), offline=True)
    assert sorted(s.post for s in scores) == sorted(p.stem for p in IDEALS.glob("*.json"))
    total = overall(scores)
    assert total.error == "" and total.calls == 0
    assert total.stocks_ideal > 40 and total.recall is not None and total.recall > 0.5
    assert total.events_invented == []


async def test_run_against_a_server_counts_calls_and_accounts_for_fabrications() -> None:
    """Through a loopback OpenAI-compatible server: one call per post with its tokens, and
    no fabrication in the answer reaches the digest the bench scores."""
    answer = {
        "headline": "存储涨价",
        "summary": "存储涨价周期还没结束。",
        "sections": [
            {
                "name": "存储",
                "points": ["涨价周期还没结束"],
                "stocks": ["兆易创新、北京君正、江波龙、佰维存储", "WPS"],
            }
        ],
        "risks": [],
        "events": [{"title": "卖方小熊的总结", "when": "周五"}],
    }

    def handle(request: dict[str, Any]) -> Reply:
        return completion(answer, prompt_tokens=300, completion_tokens=80)

    with fake_llm() as server:
        server.handler = handle
        settings = Settings(openai_base_url=server.base_url, digest_model="fake", llm_max_retries=0)
        scores = await run(settings)
    assert [s.error for s in scores] == [""] * 4
    assert [(s.calls, s.prompt_tokens, s.completion_tokens) for s in scores] == [(1, 300, 80)] * 4
    for s in scores:  # WPS and the heading-as-event never reach the digest; no joined string
        assert s.non_post_stocks == [] and s.events_invented == [] and s.dropped >= 2, s
