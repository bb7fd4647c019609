"""The post's own structure completes a digest: a model that names a post's sector but misses
some of the stocks the post lists there, or leaves a listed group out, loses none of them.

The post's *lists* are its sections (a heading, a labelled item, a labelled paragraph under no
heading, with what is under it) and each paragraph that is a labelled list of stocks ("OCS代表：
源杰科技、仕佳光子…", named by its topic: OCS). A digest section named after a list (the same
name, or a part of it: "通信" and "通信/CPO") gets that list's stocks; a list no section is
named after goes whole to the first section that speaks of its label (a 光模块 section saying
"OCS也在走独立新高"), when it fits; a list of listed stocks most of which the digest lacks
becomes a section of its own, beside sections that held, never in place of them. Only stocks
the post names count (stocks.Stocks), so nothing a post does not list is ever added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from digests.summarize.document import Document, Kind, clip
from digests.summarize.schema import Claim, Section
from digests.summarize.stocks import Named, Stocks
from digests.summarize.units import norm

MIN_POINT = 6  # characters: shorter sentences ("对不。") say nothing on their own
LIST_LABEL = re.compile(r"^([^：:，,。！？]{1,10}?)[：:]\s*\S")  # "OCS代表：…"
# the words that introduce a list after its topic ("OCS代表：", "液冷标的：")
_INTRODUCING = re.compile(r"(?<=.)(?:代表|标的|龙头|推荐|关注|包括|个股|公司|相关)$")


@dataclass(frozen=True)
class PostList:
    """A named group of the post's sentences: its label and their numbers."""

    label: str
    numbers: tuple[int, ...]
    opening: int  # the sentence a point is taken from when the list becomes a section


def post_lists(doc: Document, stocks: Stocks) -> list[PostList]:
    """The post's sections and labelled lists of stocks (see the module docstring)."""
    lists: list[PostList] = []
    apart: set[int] = set()
    for block in doc.blocks:
        label = LIST_LABEL.match(block.text)
        if block.kind is Kind.paragraph and label and stocks.list_in(block.text):
            lists.append(PostList(topic(label.group(1)), tuple(block.numbers), block.first))
            apart.update(block.numbers)
    for head, under in doc.sections():
        if head is None:
            continue
        numbers = tuple(n for b in (head, *under) for n in b.numbers if n not in apart)
        opening = next((n for n in numbers if n != head.first or head.label), 0)
        lists.append(PostList(head.label or head.text, numbers, opening))
    return lists


def topic(label: str) -> str:
    """A list's label without the word introducing it: "OCS代表" is OCS."""
    return _INTRODUCING.sub("", label.strip())


def parts(name: str) -> set[str]:
    """A section name's parts: "通信/CPO" is 通信 and cpo."""
    return {p for p in re.split(r"[/、，,|&＆+-]+", norm(name)) if len(p) >= 2}


@dataclass
class Completion:
    """What the post's lists add to a digest's sections (their kept stocks in `stocks`)."""

    sections: list[Section]
    stocks: list[list[Named]]
    limit: int  # stocks per section
    added: list[str]

    def fill(self, lists: list[PostList], named: Stocks) -> None:
        """Each section gets the lists named after it, then the lists it speaks of."""
        taken = [n for kept in self.stocks for n in kept]
        used: set[int] = set()
        for index, section in enumerate(self.sections):
            for i, post_list in enumerate(lists):
                if parts(section.name) & parts(post_list.label):
                    self._give(index, named.within(list(post_list.numbers)), taken, whole=False)
                    used.add(i)
        said = [norm(" ".join([s.name, *(p.text for p in s.points)])) for s in self.sections]
        for i, post_list in enumerate(lists):
            label = norm(post_list.label)
            speaker = next(
                (k for k, text in enumerate(said) if len(label) >= 2 and label in text), None
            )
            found = named.within(list(post_list.numbers))
            if (
                i not in used
                and speaker is not None
                and self._give(speaker, found, taken, whole=True)
            ):
                used.add(i)

    def _give(self, index: int, found: list[Named], taken: list[Named], *, whole: bool) -> bool:
        more = [n for n in found if n not in taken]
        room = max(self.limit - len(self.stocks[index]), 0)
        if not more or (whole and len(more) > room):  # a list only spoken of goes whole
            return False
        self.stocks[index] += more[:room]
        taken += more[:room]
        self.added += [n.name for n in more[:room]]
        return True


def _point(doc: Document, post_list: PostList, named: Stocks) -> Claim | None:
    """A list's first sentence that says something, without its label: not a bare list of
    names ("新消费： 泡泡玛特、老铺黄金…")."""
    if not post_list.opening:
        return None
    for number in (n for n in post_list.numbers if n >= post_list.opening):
        sentence = doc.sentences[number - 1]
        label = doc.blocks[sentence.block].label
        text = sentence.text
        if label and text.startswith(label):
            text = text[len(label) :].lstrip(" ：:")
        if len(text) >= MIN_POINT and not named.list_in(text):
            return Claim(text=clip(text), cites=[number])
    return None


def left_out(
    doc: Document, lists: list[PostList], named: Stocks, taken: list[Named], limit: int
) -> list[tuple[str, list[Claim], list[Named]]]:
    """The lists of listed stocks most of which the digest lacks: (label, their first
    sentence that says something as a point, their stocks)."""
    found: list[tuple[str, list[Claim], list[Named]]] = []
    for post_list in lists:
        everyone = named.within(list(post_list.numbers))
        fresh = [n for n in everyone if n not in taken]
        if not fresh or len(fresh) * 2 < len(everyone) or not any(n.listed for n in fresh):
            continue  # the digest has most of this list already, or it lists nothing
        point = _point(doc, post_list, named)  # a bare labelled list has its stocks only
        found.append((post_list.label, [point] if point else [], fresh[:limit]))
        taken = [*taken, *fresh]
    return found
