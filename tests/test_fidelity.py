"""The fidelity bench's scoring on small hand-made digests, its ideals against their posts (the
claims' sources and contradictions too), its offline run over examples/ideal (the extractive
digest: no server), and the grounding gate's verdicts on the ideals' claims (bench.claims)."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from bench import claims
from bench.fidelity import IDEALS, NAMES, POSTS, dropped_count, non_post, overall, run, score
from digests.ingest.hexo import read_post_file
from digests.settings import Settings
from digests.summarize.claims import Evidence
from digests.summarize.document import Document
from digests.summarize.schema import Digest, Event, Section
from digests.summarize.stocks import finder
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


KINDS = {"negated", "reversed", "number", "swapped", "source"}


def test_every_claim_source_and_contradiction_quotes_its_post() -> None:
    """An ideal's point or risk given as {text, source} quotes its post in `source` (the
    sentences a citing model would cite), and each of its `contradictions` has a text, a kind
    of contradiction and the source it contradicts, also a quote of the post."""
    drafts = [read_post_file(p, tz=ZoneInfo("Asia/Shanghai")) for p in POSTS.glob("*.md")]
    posts = {d.slug: d for d in drafts}
    sourced = 0
    for path in sorted(IDEALS.glob("*.json")):
        ideal = json.loads(path.read_text(encoding="utf-8"))
        draft = posts[path.stem]
        evidence = Evidence(Document(draft.title, draft.body_markdown), finder(NAMES))
        items = [p for s in ideal["sections"] for p in s["points"]] + ideal["risks"]
        quoted = [item for item in items if isinstance(item, dict)]
        assert all(item["text"] and item["source"] for item in quoted), path.name
        for item in quoted + ideal.get("contradictions", []):
            assert claims.cites_of(item["source"], evidence), (path.name, item["source"])
        for wrong in ideal.get("contradictions", []):
            assert wrong["text"] and wrong["kind"] in KINDS, (path.name, wrong)
        sourced += bool(quoted)
    assert sourced >= 15


async def test_offline_run_scores_every_ideal() -> None:
    """With no server the extractive digest is scored for every ideal, without a failure; its
    claims, copied from the post with their sentences cited, all pass the gate."""
    scores = await run(Settings(openai_base_url=None, openai_api_key=None), offline=True)
    assert sorted(s.post for s in scores) == sorted(p.stem for p in IDEALS.glob("*.json"))
    assert len(scores) == 19
    total = overall(scores)
    assert total.error == "" and total.calls == 0
    assert total.stocks_ideal > 40 and total.recall is not None and total.recall > 0.5
    assert total.events_invented == []
    assert total.claims_made > 0 and total.claims_kept == total.claims_made


def test_the_gate_keeps_faithful_claims_and_drops_contradictions() -> None:
    """On the development set's claims (bench.claims), cited as a model would cite them or
    citing nothing, the gate keeps at least 90% of the faithful ones and drops at least 85%
    of the contradictions (hand-written and made by bench.mutations), of every kind some."""
    tallies = claims.run(NAMES)
    assert len(tallies) >= 15
    total = claims.Tally("overall")
    for tally in tallies:
        total.add(tally)
    for mode in claims.MODES:
        faithful, kept = total.faithful[mode], total.kept[mode]
        assert faithful >= 150 and kept >= 0.9 * faithful, (mode, kept, faithful)
        wrong = sum(v for k, v in total.contradictions.items() if k.startswith(f"{mode} "))
        dropped = sum(v for k, v in total.dropped.items() if k.startswith(f"{mode} "))
        assert wrong >= 300 and dropped >= 0.85 * wrong, (mode, dropped, wrong)
    kinds = {key.split(" ")[-1] for key, count in total.dropped.items() if count}
    assert kinds == KINDS


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
    posts = len(list(IDEALS.glob("*.json")))
    assert [s.error for s in scores] == [""] * posts
    assert [(s.calls, s.prompt_tokens, s.completion_tokens) for s in scores] == [
        (1, 300, 80)
    ] * posts
    for s in scores:  # WPS and the heading-as-event never reach the digest; no joined string
        assert s.non_post_stocks == [] and s.events_invented == [] and s.dropped >= 2, s
        assert s.claims_made >= 2  # the summary's sentence and the point, kept or not
