"""Issue 18's fabrications, each as a weak model returned it, through a fake OpenAI-compatible
server on loopback HTTP: none reaches the stored digest, each is listed in meta.dropped, and
GOOD still passes whole. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from digests.models import StoredDigest
from digests.summarize import digesting
from digests.summarize.digesting import DigestContext
from tests.fake_llm import GOOD, FakeLLM, completion

SEED = "2-10-zhui-zong"
JOINED = "兆易创新、北京君正、江波龙、佰维存储"
SWAPPED = "英伟达出局！无缘NVIDIA Rubin"  # the post says 美光出局
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
    return json.dumps(row.data, ensure_ascii=False)


@pytest.mark.parametrize(
    ("answer", "gone", "listed"),
    [
        (with_stocks(JOINED), JOINED, {"stocks": JOINED.split("、")}),
        (with_stocks("阿里数据港"), "阿里数据港", {"stocks": ["阿里数据港"]}),
        (with_stocks("WPS"), "WPS", {"stocks": ["WPS"]}),
        (
            everywhere(SWAPPED),
            "英伟达出局",
            {"headline": [SWAPPED], "points": [SWAPPED], "risks": [SWAPPED]},
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
        "ali-datahub",
        "wps",
        "nvidia-out",
        "heading-event",
        "note-event",
        "tonight",
    ],
)
async def test_no_fabrication_reaches_the_stored_digest(
    dctx: DigestContext, server: FakeLLM, answer: Any, gone: str, listed: dict[str, Any]
) -> None:
    """Each fabrication is removed and listed in meta.dropped; the rest of GOOD is kept."""
    row = await answered(dctx, server, answer)
    assert gone not in flat(row) and row.status == "ready"
    assert {key: row.dropped[key] for key in listed} == listed
    assert row.data["sections"][0]["points"] == GOOD["sections"][0]["points"]
    assert row.data["events"][:2] == GOOD["events"] and row.data["risks"][0] == GOOD["risks"][0]


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
    for invented in ("兆易创新", "阿里数据港", "WPS", "英伟达出局", "卖方小熊", "交流要点"):
        assert invented not in flat(row)
    assert row.data["headline"] == (await digesting.find_post(dctx, SEED)).title
    assert row.data["events"] == [*GOOD["events"], HOLIDAY]


async def test_good_passes_whole(dctx: DigestContext, server: FakeLLM) -> None:
    """GOOD loses nothing: only the stocks the post lists under 通信 and 传媒 are added."""
    row = await answered(dctx, server, GOOD)
    assert set(row.dropped) == {"added"}
    data = row.data
    assert {k: data[k] for k in ("headline", "summary", "risks")} == {
        k: GOOD[k] for k in ("headline", "summary", "risks")
    }
    assert data["events"] == [*GOOD["events"], HOLIDAY]  # the post's 交易到周五就放假, added
    mine, more = (
        data["sections"][: len(GOOD["sections"])],
        data["sections"][len(GOOD["sections"]) :],
    )
    for kept, sent in zip(mine, GOOD["sections"], strict=True):
        assert (
            kept["points"] == sent["points"]
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
    assert row.dropped == {"added": {"stocks": ["德明利"], "events": ["财报 3月中旬"]}}


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
