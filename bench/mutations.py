"""A mutation set from the development set's ideals: each faithful point (with the sentence of
the post it rests on) turned into claims that contradict the post, the ways a careless model
garbles a sentence: negated, a direction reversed, two of the post's subjects swapped, a number
changed, a source the post never names.

The rules below are the bench's own, written apart from the gate's word lists (a bench that
used the gate's lexicon would only measure it against itself); the antonym pairs are the
common ones of Chinese market prose, so the two lists overlap as any two such lists would.
The hand-written contradictions of the ideals (`contradictions`) are scored beside these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# antonym pairs, either way round
_ANTONYMS = (
    ("上调", "下调"), ("上涨", "下跌"), ("大涨", "大跌"), ("增加", "减少"), ("支持", "反对"),
    ("超预期", "低于预期"), ("加仓", "减仓"), ("买入", "卖出"), ("看好", "看空"), ("提升", "下降"),
    ("扩大", "收窄"), ("利好", "利空"), ("高于", "低于"), ("满仓", "空仓"), ("回暖", "下滑"),
    ("便宜", "贵"), ("进入", "排除"), ("领先", "落后"), ("涨价", "降价"), ("增长", "下滑"),
    ("受益", "受损"), ("走强", "走弱"), ("上行", "下行"), ("增持", "减持"), ("加速", "放缓"),
    ("加杠杆", "卸杠杆"), ("乐观", "悲观"), ("偏强", "偏弱"), ("扩产", "减产"),
)  # fmt: skip
# a negation taken out (the word left in its place) or put in before a verb
_NEGATED = (
    ("不建议", "建议"), ("不要", "要"), ("没有", "有"), ("不会", "会"), ("不能", "能"),
    ("还没", "已经"), ("并不", "很"), ("不是", "是"), ("未", "已"), ("别", "要"),
)  # fmt: skip
_VERBS = re.compile(r"(?<![不没未别])(?:建议|可以|应该|需要|已经)")
_IDIOMS = re.compile(
    r"不仅|不断|不少|不错|不过|不同|非常|未来|不一样|[级区特分类个识告差]别|别[人的处]"
)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
SOURCES = ("瑞银", "高盛", "摩根士丹利", "野村证券", "中金公司")


@dataclass(frozen=True)
class Mutant:
    """A claim made to contradict its post, how, and the sentence it came from."""

    text: str
    kind: str  # negated | reversed | swapped | number | source
    source: str


def mutate(claim: str, source: str, *, post: str, names: list[str]) -> list[Mutant]:
    """The contradicting claims one faithful `claim` gives; `names` are the stock and company
    names the post holds (for swaps), `post` its text (a source must be one it never names)."""
    made = [
        ("negated", _negate(claim)),
        ("reversed", _reverse(claim)),
        ("swapped", _swap(claim, names)),
        ("number", _renumber(claim)),
        ("source", _attribute(claim, post)),
    ]
    return [Mutant(text, kind, source) for kind, text in made if text and text != claim]


def _negate(claim: str) -> str:
    """The claim's negation taken out, or one put in before its first verb."""
    if not _IDIOMS.search(claim):
        for negated, plain in _NEGATED:
            if negated in claim:
                return claim.replace(negated, plain, 1)
    verb = _VERBS.search(claim)
    if verb:
        word = "没有" if verb.group().startswith("已") else "不"
        return claim[: verb.start()] + word + claim[verb.start() :]
    return ""


def _reverse(claim: str) -> str:
    for one, other in _ANTONYMS:
        for a, b in ((one, other), (other, one)):
            if a in claim:
                return claim.replace(a, b, 1)
    return ""


def _swap(claim: str, names: list[str]) -> str:
    """Two names of the claim swapped; with one, it is replaced by another of the post's."""
    present = sorted({n for n in names if len(n) >= 2 and n in claim}, key=claim.find)
    present = [n for n in present if not any(n != m and n in m for m in present)]
    if len(present) >= 2:
        a, b = present[0], present[1]
        return claim.replace(a, "\x00").replace(b, a).replace("\x00", b)
    if len(present) == 1:
        others = [
            n for n in names if n not in claim and present[0] not in n and n not in present[0]
        ]
        return claim.replace(present[0], others[0], 1) if others else ""
    return ""


def _renumber(claim: str) -> str:
    found = _NUMBER.search(claim)
    if not found:
        return ""
    value = float(found.group())
    changed = value * 2 if value < 10 else value + max(10, round(value / 2))
    text = f"{changed:g}" if "." in found.group() else str(int(changed))
    return claim[: found.start()] + text + claim[found.end() :]


def _attribute(claim: str, post: str) -> str:
    source = next((s for s in SOURCES if s not in post), "")
    return f"{source}：{claim}" if source else ""
