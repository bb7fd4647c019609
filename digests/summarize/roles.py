"""A claim's clause against the source clause it was aligned with: which source clause that is
(on what they say, names, days and numbers aside), and whether the clause gives its names, its
shares and its comparisons the roles the source gives them."""

from __future__ import annotations

import re
from functools import lru_cache

from digests.summarize.units import DATE, cn_number, grams, norm, numbers

ALIGN = 0.3  # of a clause's pairs its source clause must share to be compared with it
CLOSE = 0.1  # source clauses aligned within this of the best are compared too

_PLAIN = set("的了是在和与及也都就还而但又很更最年月日个家只元亿万点成倍")


# a share given to a subject: 军工三成, PCB两成, 光模块40%
_SHARE = re.compile(
    r"([\u4e00-\u9fffa-z]{1,4}?)([一二两三四五六七八九十]{1,3}|\d+(?:\.\d+)?)(?=成|%|倍)"
)
# two markets compared: 港股的估值比A股便宜
_MARKET = r"a股|港股|美股|h股|中概股?"
_COMPARED = re.compile(rf"({_MARKET})[^，,。；;]{{0,10}}?比({_MARKET})")


def shares(clause: str, source: str) -> str:
    """Why a share the clause gives a subject is not the one its sentence gives it
    ("铜三成" where the post says 铜两成)."""
    theirs = [(subject, _value(n)) for subject, n in _SHARE.findall(source)]
    for subject, n in _SHARE.findall(clause):
        same = [(s, v) for s, v in theirs if s and (s in subject or subject in s)]
        if same and all(v != _value(n) for _, v in same):
            return f"gives {subject} {n} where the post gives {same[0][0]} {same[0][1]}"
    return ""


def _value(number: str) -> str:
    return number if number[0].isdigit() else str(cn_number(number))


def compared(clause: str, source: str) -> str:
    """Why the clause compares two markets the other way round from its sentence."""
    theirs = _COMPARED.findall(source)
    for one, other in _COMPARED.findall(clause):
        if (other, one) in theirs and (one, other) not in theirs:
            return f"compares {one} with {other}, the post {other} with {one}"
    return ""


def numbers_near(clause: str, pieces: dict[int, list[str]]) -> set[str]:
    """The numbers of the source clauses that share a character with the clause (numbers
    and plain words aside): a number is checked where its subject is ("2027年底" is not in
    "2027-2028年…占比"; "增72%" is in "同比增长72%")."""
    chars = {c for c in clause if "\u4e00" <= c <= "\u9fff"} - _PLAIN
    return {
        n for parts in pieces.values() for part in parts if chars & set(part) for n in numbers(part)
    }


def outside(text: str, claimed: list[tuple[int, int, str]]) -> str:
    """The text with the names blanked out: what it says about them."""
    for start, end, _ in sorted(claimed, reverse=True):
        text = text[:start] + "，" + text[end:]
    return text


def mentions(text: str, name: str) -> bool:
    """`name` (normalised) is in `text`, or by its first or last two characters when it is a
    Chinese name of four or more (天孚 for 天孚通信, 旭创 for 中际旭创)."""
    name = norm(name)
    if name in text:
        return True
    chinese = all("\u4e00" <= ch <= "\u9fff" for ch in name)
    return chinese and len(name) >= 4 and (name[:2] in text or name[-2:] in text)


def aligned(
    said: str, blanked: dict[int, list[str]], pieces: dict[int, list[str]], weight: dict[str, float]
) -> list[tuple[str, int]]:
    """The source clauses (or two in a row of one sentence) sharing at least ALIGN of what
    the clause says (`said`: its names blanked, as in `blanked`), as `pieces` writes them,
    with their sentence's number, best first. Shares are weighed by how rare a pair is in
    the post (评级 tells more than 下调); a pair of clauses counts as better than one of
    them only when it shares a fifth more."""
    wanted = _content(said)
    if not wanted:
        return []
    total = sum(weight.get(g, 1.0) for g in wanted)

    def share(text: str) -> float:
        return sum(weight.get(g, 1.0) for g in wanted & _content(text)) / total

    scored: list[tuple[float, int, str, int]] = []
    for number, parts in blanked.items():
        whole = pieces[number]
        for i, part in enumerate(parts):
            scored.append((share(part), 0, whole[i], number))
            if i + 1 < len(parts):
                two = share(part + "，" + parts[i + 1])
                scored.append((two - 0.2, 1, "，".join(whole[i : i + 2]), number))
    scored.sort(key=lambda item: (-item[0], item[1]))
    best = scored[0][0] if scored else 0.0
    return [(w, n) for share, _, w, n in scored if share >= max(ALIGN, best - CLOSE)]


@lru_cache(maxsize=8192)
def _content(text: str) -> frozenset[str]:
    """The units a clause is aligned on: its pairs and words, without its days and numbers
    (周三人大开幕 is aligned with 周四人大开幕, then found to date it otherwise)."""
    return frozenset(g for g in grams(DATE.sub("，", text)) if not g[0].isdigit())


_SYMMETRIC = re.compile(r"^(?:和|与|及|以及|跟|、|，|或|或者)$")


def swapped(window: str, mine: list[tuple[str, str]], theirs: set[str]) -> str:
    """Why the clause gives its names other roles than its source clause does: one of its
    names (written, key) is not there while another name is, or two names come in the other
    order with more than "和/与/、" between them. `theirs`: the keys named in the window."""
    present = [(w, k) for w, k in mine if k in theirs or mentions(window, w)]
    absent = [w for w, k in mine if (w, k) not in present]
    others = sorted(theirs - {k for _, k in mine})
    if absent and others:
        return f"says of {absent[0]} what the post says of {others[0]}"
    if len(present) >= 2:
        (first, _), (second, _) = present[0], present[1]
        a, b = _place(window, first), _place(window, second)
        if a > b >= 0 and not _SYMMETRIC.match(window[b + len(norm(second)) : a]):
            return f"swaps {first} and {second}"
    return ""


def _place(text: str, name: str) -> int:
    name = norm(name)
    at = text.find(name)
    if at < 0 and len(name) >= 4:
        at = max(text.find(name[:2]), text.find(name[-2:]))
    return at
