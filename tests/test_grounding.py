"""The grounding gate's size limits (digests/summarize/grounding.bound), as a table of cases:
what is cut, what is dropped whole, and what is counted."""

from __future__ import annotations

from typing import Any

import pytest

from digests.summarize.grounding import LIMITS, bound, ground
from digests.summarize.schema import Digest

POINT = "CPO+OCS 是新一代交换机趋势"


def digest(**fields: Any) -> Digest:
    base: dict[str, Any] = {
        "headline": "字节新模型带动算力",
        "summary": "科技板块大爆发。",
        "sections": [{"name": "通信", "points": [POINT], "stocks": ["天孚通信"]}],
        "risks": ["假期外盘波动"],
        "events": [{"title": "美国CPI", "when": "周五"}],
    }
    return Digest.model_validate({**base, **fields})


@pytest.mark.parametrize(
    ("fields", "counted", "check"),
    [
        ({}, {}, lambda d: d == digest()),
        (
            {"headline": "观点" * 100},
            {"headline": 1},
            lambda d: len(d.headline) == LIMITS.headline and d.headline.endswith("…"),
        ),
        (
            {"headline": "占比" * 58 + "超70%以上"},
            {"headline": 1},
            lambda d: d.headline.endswith("超…"),
        ),  # never a cut number: "超7…" would be a claim
        ({"summary": "句。" * 300}, {"summary": 1}, lambda d: len(d.summary) == LIMITS.summary),
        (
            {"sections": [{"name": "板" * 50, "points": [POINT], "stocks": []}]},
            {"section_names": 1},
            lambda d: len(d.sections[0].name) == LIMITS.section_name,
        ),
        (
            {"sections": [{"name": "通信", "points": [POINT] * 7 + ["长" * 151], "stocks": []}]},
            {"points": 2},
            lambda d: d.sections[0].points == [POINT] * 6,
        ),
        (
            {
                "sections": [
                    {"name": "通信", "points": [], "stocks": ["天孚通信"] * 13 + ["股" * 31]}
                ]
            },
            {"stocks": 2},
            lambda d: len(d.sections[0].stocks) == 12,
        ),
        (
            {"sections": [{"name": "通信", "points": [POINT], "stocks": []}] * 9},
            {"sections": 1},
            lambda d: len(d.sections) == 8,
        ),
        ({"risks": ["风险"] * 9 + ["险" * 201]}, {"risks": 2}, lambda d: len(d.risks) == 8),
        (
            {
                "events": [{"title": "CPI", "when": "周五"}] * 13
                + [{"title": "会" * 61, "when": "周一"}, {"title": "会", "when": "日" * 41}]
            },
            {"events": 3},
            lambda d: len(d.events) == 12,
        ),
    ],
    ids=[
        "within",
        "headline",
        "number-tail",
        "summary",
        "section-name",
        "points",
        "stocks",
        "sections",
        "risks",
        "events",
    ],
)
def test_bound_cuts_drops_and_counts(
    fields: dict[str, Any], counted: dict[str, int], check: Any
) -> None:
    """Each field past its limit is cut (headline, summary, section name) or dropped whole
    (points, stocks, risks, events, items past the counts), and counted."""
    bounded, over = bound(digest(**fields))
    assert dict(over) == counted and check(bounded)


def test_ground_reports_the_size_cuts_under_over_limit() -> None:
    """meta.dropped gets `over_limit` only when something was cut for size."""
    _, clean = ground(digest(), "字节新模型带动算力 CPO+OCS 是新一代交换机趋势 天孚通信")
    assert "over_limit" not in clean
    _, dropped = ground(digest(headline="观" * 500), "CPO+OCS 是新一代交换机趋势 天孚通信")
    assert dropped["over_limit"] == {"headline": 1}
