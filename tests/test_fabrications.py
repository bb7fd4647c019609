"""Issue 18's fabrications, each as a weak model returned it, through a fake OpenAI-compatible
server on loopback HTTP: none reaches the stored digest, each is listed in meta.dropped with
the reason, and GOOD still passes whole. Stocks are the securities dictionary's entries the
post names, or names it lists. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from digests.models import StoredDigest
from digests.summarize import digesting
from digests.summarize.digesting import DigestContext
from digests.summarize.document import split_sentences
from tests.fake_llm import GOOD, FakeLLM, completion

SEED = "2-10-zhui-zong"
JOINED = "兆易创新、北京君正、江波龙、佰维存储"
SWAPPED = "中际旭创一家独秀"  # the post says 天孚通信一家独秀: two dictionary names swapped
HOLIDAY = {"title": "休市", "when": "周五"}  # the post's own dated event, which GOOD leaves out


async def answered(dctx: DigestContext, server: FakeLLM, answer: Any, slug: str = SEED) -> Any:
    """The stored digest of `slug` when the model answers `answer`."""
    server.answers = [completion(answer)]
    post = await digesting.find_post(dctx, slug)
    return await digesting.digest_post(dctx, post, refresh=True)


def good() -> dict[str, Any]:
    return json.loads(json.dumps(GOOD))


def with_stocks(*stocks: str) -> dict[str, Any]:
    answer = good()
    answer["sections"][0]["stocks"] += stocks
    return answer


def with_events(*events: tuple[str, str]) -> dict[str, Any]:
    answer = good()
    answer["events"] += [{"title": title, "when": when} for title, when in events]
    return answer


def everywhere(text: str) -> dict[str, Any]:
    answer = good()
    answer["headline"] = text
    answer["summary"] += text + "。"
    answer["sections"][0]["points"].append(text)
    answer["risks"].append(text)
    return answer


def flat(row: StoredDigest) -> str:
    """The stored digest as one text, without `sources` (the post's own sentences, quoted)."""
    return json.dumps({k: v for k, v in row.data.items() if k != "sources"}, ensure_ascii=False)


def texts(dropped: dict[str, Any]) -> dict[str, list[str]]:
    """meta.dropped's entries by their text ({"text", "why"} objects; headline strings)."""
    return {
        key: [e["text"] if isinstance(e, dict) else e for e in entries]
        for key, entries in dropped.items()
        if key not in ("added", "over_limit")
    }


def said(claims: list[Any]) -> list[str]:
    return [claim["text"] for claim in claims]


@pytest.mark.parametrize(
    ("answer", "gone", "listed"),
    [
        (with_stocks(JOINED), JOINED, {"stocks": JOINED.split("、")}),
        (with_stocks("阿里数据港"), "阿里数据港", {"stocks": ["阿里数据港"]}),
        (with_stocks("腾讯"), "腾讯", {"stocks": ["腾讯"]}),
        (with_stocks("WPS"), "WPS", {"stocks": ["WPS"]}),
        (
            everywhere(SWAPPED),
            SWAPPED,
            {
                "headline": [SWAPPED],
                "points": [SWAPPED],
                "risks": [SWAPPED],
                "summary": [SWAPPED + "。"],
            },
        ),
        (with_events(("卖方小熊的总结", "周五")), "卖方小熊", {"events": ["卖方小熊的总结 周五"]}),
        (
            with_events(("花旗-中际旭创交流要点", "周五")),
            "交流要点",
            {"events": ["花旗-中际旭创交流要点 周五"]},
        ),
        (with_events(("美国CPI", " tonight")), "tonight", {"events": ["美国CPI tonight"]}),
    ],
    ids=[
        "joined-stocks",
        "no-entry",
        "abbreviation-in-prose",
        "wps",
        "swapped-subject",
        "heading-event",
        "note-event",
        "tonight",
    ],
)
async def test_no_fabrication_reaches_the_stored_digest(
    dctx: DigestContext, server: FakeLLM, answer: Any, gone: str, listed: dict[str, Any]
) -> None:
    """Each fabrication is removed and listed in meta.dropped with the reason; the rest of
    GOOD is kept. A stock must be a dictionary entry the post names or a name it lists: not
    a platform's supplier written as one ("阿里数据港": the post lists 数据港), nor an
    abbreviation the dictionary gives (腾讯 for 腾讯控股) that the post writes in prose only."""
    row = await answered(dctx, server, answer)
    assert gone not in flat(row) and row.status == "ready"
    assert {key: texts(row.dropped)[key] for key in listed} == listed
    assert all(e["why"] for key in listed if key != "headline" for e in row.dropped[key])
    assert said(row.data["sections"][0]["points"]) == GOOD["sections"][0]["points"]
    assert row.data["events"][:2] == GOOD["events"]
    assert row.data["risks"][0]["text"] == GOOD["risks"][0]


async def test_all_the_fabrications_at_once_leave_good_alone(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """The weak model's whole answer: what GOOD says survives, nothing invented does."""
    answer = everywhere(SWAPPED)
    answer["sections"][0]["stocks"] += [JOINED, "阿里数据港", "WPS"]
    answer["events"] += [
        {"title": "卖方小熊的总结", "when": "周五"},
        {"title": "花旗-中际旭创交流要点", "when": "周五"},
    ]
    row = await answered(dctx, server, answer)
    for invented in ("兆易创新", "阿里数据港", "WPS", SWAPPED, "卖方小熊", "交流要点"):
        assert invented not in flat(row)
    assert row.data["headline"] == (await digesting.find_post(dctx, SEED)).title
    assert row.data["events"] == [*GOOD["events"], HOLIDAY]


async def test_good_passes_whole(dctx: DigestContext, server: FakeLLM) -> None:
    """GOOD loses nothing: only the stocks the post lists under 通信 and 传媒 are added (and
    its lists GOOD leaves out, as sections); every claim cites the sentences it rests on,
    whose text the digest carries, and each stock has its dictionary code."""
    row = await answered(dctx, server, GOOD)
    assert set(row.dropped) == {"added"}
    data = row.data
    assert data["headline"] == GOOD["headline"]
    assert said(data["summary"]) == split_sentences(GOOD["summary"])
    assert said(data["risks"]) == GOOD["risks"]
    claims = [*data["summary"], *data["risks"], *(p for s in data["sections"] for p in s["points"])]
    assert all(claim["cites"] for claim in claims)
    assert {str(n) for claim in claims for n in claim["cites"]} == set(data["sources"])
    assert data["codes"]["天孚通信"] == "300394.SZ" and data["codes"]["中文在线"] == "300364.SZ"
    assert set(data["codes"]) <= {n for s in data["sections"] for n in s["stocks"]}
    assert data["events"] == [*GOOD["events"], HOLIDAY]  # the post's 交易到周五就放假, added
    mine, more = (
        data["sections"][: len(GOOD["sections"])],
        data["sections"][len(GOOD["sections"]) :],
    )
    for kept, sent in zip(mine, GOOD["sections"], strict=True):
        assert (
            said(kept["points"]) == sent["points"]
            and kept["stocks"][: len(sent["stocks"])] == sent["stocks"]
        )
    added = [
        s
        for kept, sent in zip(mine, GOOD["sections"], strict=True)
        for s in kept["stocks"][len(sent["stocks"]) :]
    ]
    added += [s for section in more for s in section["stocks"]]
    assert [s["name"] for s in more] == ["OCS", "计算机"]  # the post's lists GOOD leaves out
    assert row.dropped["added"] == {
        "stocks": added,
        "sections": ["OCS", "计算机"],
        "events": ["休市 周五"],
    }


async def test_a_joined_entry_the_post_lists_becomes_its_names(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """On the storage note, which lists them, the comma-joined entry is four stocks."""
    answer = {
        "headline": "存储涨价周期还没结束",
        "summary": "",
        "sections": [{"name": "标的", "points": [], "stocks": [JOINED]}],
        "risks": [],
        "events": [],
    }
    row = await answered(dctx, server, answer, "2026-02-26-broker-note-storage")
    assert row.data["sections"][0]["stocks"][:4] == JOINED.split("、")
    assert row.dropped == {"added": {"stocks": ["德明利"], "events": ["美光财报 3月中旬"]}}


async def test_an_abbreviation_counts_where_the_post_writes_the_full_name(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """腾讯, the dictionary's abbreviation of 腾讯控股, is a stock on a post that writes 腾讯控股
    (shown in full, with its code), where on the seed post, which writes 腾讯 in prose only,
    it is dropped."""
    answer = {
        "headline": "港股科技怎么摆",
        "summary": "",
        "sections": [{"name": "互联网", "points": [], "stocks": ["腾讯"]}],
        "risks": [],
        "events": [],
    }
    row = await answered(dctx, server, answer, "5-24-gang-mei-zhou-bao")
    assert row.data["sections"][0]["stocks"][0] == "腾讯控股"
    assert row.data["codes"]["腾讯控股"] == "00700.HK" and "stocks" not in row.dropped
    seed = await answered(dctx, server, with_stocks("腾讯"))
    assert "腾讯" not in {n for s in seed.data["sections"] for n in s["stocks"]}
    assert texts(seed.dropped)["stocks"] == ["腾讯"]


async def test_stocks_only_inside_points_are_completed_from_the_posts_lists(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """A weak model's sections with empty stock lists get the names the post lists there."""
    answer = good()
    for section in answer["sections"]:
        section["stocks"] = []
    row = await answered(dctx, server, answer)
    stocks = {s["name"]: s["stocks"] for s in row.data["sections"]}
    assert {"天孚通信", "英维克", "麦格米特"} <= set(stocks["通信"])
    assert {"中文在线", "掌阅科技"} <= set(stocks["传媒"])


async def test_an_english_digest_of_a_chinese_post_is_asked_again_once_then_needs_review(
    dctx: DigestContext, server: FakeLLM
) -> None:
    """Mostly Latin text for a Chinese post: asked once more; a Chinese answer then is used,
    a second English one is stored but never pushed automatically."""
    answer = good()
    answer["summary"] = "Tech stocks rallied on ByteDance's new model; CPO demand is expanding."
    answer["sections"] = [
        {"name": "通信", "points": ["CPO and OCS are the new switch trend"], "stocks": ["天孚通信"]}
    ]
    answer["headline"] = "Tech stocks rally"
    answer["risks"] = ["Payrolls and CPI land during the holiday"]
    server.answers = [completion(answer), completion(good())]
    post = await digesting.find_post(dctx, SEED)
    fixed = await digesting.digest_post(dctx, post, refresh=True)
    assert fixed.status == "ready" and fixed.data["headline"] == GOOD["headline"]
    assert fixed.llm_calls == 2
    server.answers = [completion(answer), completion(answer)]
    row = await digesting.digest_post(dctx, post, refresh=True)
    assert row.status == "needs_review" and row.llm_calls == 2
