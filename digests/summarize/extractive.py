"""The offline digest: built from the post's own sentences, no model involved.

Sections are the post's headings, labelled top-level list items ("1. **通信：** …"), bold-labelled
paragraphs outside any heading, and paragraphs that are a labelled list of stocks ("OCS代表：源杰
科技、仕佳光子…"); a section that is only a list of stocks ("**标的：** …") gives its stocks to the
section before it. Points are a section's first sentences (never a bare list), cut at a clause;
stocks are those the securities dictionary finds there (stocks.Stocks); risks are the items
under a 风险 heading and the sentences about 风险 (a lead-in that only announces them is
followed); events are the post's dated happenings (events.dated_events). Every claim cites
the sentence it was copied from, so the digest is grounded by construction.
"""

from __future__ import annotations

import re
from typing import Any

from digests.summarize.completion import LIST_LABEL, MIN_POINT, topic
from digests.summarize.document import Block, Document, Kind, clip
from digests.summarize.events import dated_events
from digests.summarize.schema import Claim, Digest, Section
from digests.summarize.stocks import Stocks

SECTIONS, POINTS, RISKS = 6, 4, 6
# a short sentence that ends on 风险 announces the risks rather than stating one
_LEAD_IN = re.compile(r"^.{0,16}风险(?:如下|有这些|有几个|有)?[。：:！!]?$")


def extractive_digest(title: str, markdown: str, names: Any) -> Digest:
    """A digest assembled from the post's sentences; `names` is the securities dictionary."""
    doc = Document(title, markdown)
    stocks = Stocks(doc, names)
    sections: list[Section] = []
    risks: list[Claim] = []
    outside: list[int] = []  # sentences under no section: the post's prose
    for block, under in _parts(doc, stocks):
        numbers = [n for b in ([block] if block else []) + under for n in b.numbers]
        if block is None:
            outside += numbers
            continue
        name = block.label or block.text
        if "风险" in name or "风险" in _under(doc, block):  # 本周风险 and the items under it
            risks += [_claim(doc, n) for n in numbers if n != _heading_number(block)]
            continue
        named = [n.name for n in stocks.within(numbers)]
        points = _points(doc, numbers, block, stocks)
        if not points and named and sections:  # "**标的：** …": the section before's stocks
            last = sections[-1]
            last.stocks += [n for n in named if n not in last.stocks]
        elif points or named:
            sections.append(Section(name=_name(block), points=points, stocks=named))
    prose = [n for n in outside if len(doc.sentences[n - 1].text) >= MIN_POINT]
    leftover = [n.name for n in stocks.within(outside) if not _held(n.name, sections)]
    if leftover or not sections:  # the prose's own stocks, or an unstructured post
        points = [_claim(doc, n) for n in prose[1 : 1 + POINTS]]
        sections.insert(0, Section(name="要点", points=points, stocks=leftover))
    shown: set[str] = set()
    for section in sections:  # a stock once, in the first section that names it
        section.stocks = [s for s in section.stocks if s not in shown][:12]
        shown.update(section.stocks)
    sentences = [doc.sentences[n - 1].text for n in prose]
    said = [n for n in range(1, len(doc) + 1) if n not in {c for r in risks for c in r.cites}]
    risks += _risk_sentences(doc, [n for n in said if n not in _headings(doc)])
    digest = Digest(
        headline=clip(sentences[0]) if sentences else title,
        summary=[_claim(doc, n) for n in prose[1:3]],
        sections=[s for s in sections if s.points or s.stocks][:SECTIONS],
        risks=risks[:RISKS],
        events=dated_events(doc),
    )
    digest.codes = {n.name: n.code for n in stocks.named.values() if n.code}
    digest.codes = {k: v for k, v in digest.codes.items() if _held(k, digest.sections)}
    cited = sorted({n for claim in digest.claims() for n in claim.cites})
    digest.sources = {str(n): doc.sentences[n - 1].text for n in cited}
    return digest


def _parts(doc: Document, stocks: Stocks) -> list[tuple[Block | None, list[Block]]]:
    """The post's sections, with a paragraph that is a labelled list of stocks ("OCS代表：A、
    B、C") a section of its own."""
    parts: list[tuple[Block | None, list[Block]]] = []
    for block, under in doc.sections():
        current: tuple[Block | None, list[Block]] = (block, [])
        lists: list[tuple[Block | None, list[Block]]] = []
        for child in under:
            label = LIST_LABEL.match(child.text)
            if child.kind is Kind.paragraph and label and stocks.list_in(child.text):
                lists.append((_relabelled(child, topic(label.group(1))), []))
            else:
                current[1].append(child)
        parts += [current, *lists]
    return [p for p in parts if p[0] is not None or p[1]]


def _relabelled(block: Block, label: str) -> Block:
    return Block(
        block.kind,
        block.text,
        block.level,
        block.marker,
        label.strip(),
        (),
        False,
        block.first,
        block.last,
    )


def _under(doc: Document, block: Block) -> str:
    """The heading a labelled item sits under ("" for a heading, or none)."""
    if not block.first or block.kind is Kind.heading:
        return ""
    return doc.heading(doc.sentences[block.first - 1]).removesuffix(block.label)


def _headings(doc: Document) -> set[int]:
    return {b.first for b in doc.blocks if b.kind is Kind.heading and b.first}


def _heading_number(block: Block) -> int:
    """The heading's own sentence (a heading is no point); 0 for a labelled block."""
    return block.first if block.kind is Kind.heading else 0


def _name(block: Block) -> str:
    return clip(block.label or block.text, 30)


def _points(doc: Document, numbers: list[int], block: Block, stocks: Stocks) -> list[Claim]:
    """A section's first sentences that say something: not its heading, not a bare list."""
    points: list[Claim] = []
    for number in numbers:
        if number == _heading_number(block):
            continue
        text = _unlabelled(doc.sentences[number - 1].text, block)
        if len(text) < MIN_POINT or stocks.list_in(text):
            continue
        points.append(Claim(text=clip(text), cites=[number]))
        if len(points) == POINTS:
            break
    return points


def _unlabelled(text: str, block: Block) -> str:
    """A labelled block's first sentence without its label ("价格：DRAM…" → "DRAM…")."""
    if block.label and text.startswith(block.label):
        return text[len(block.label) :].lstrip(" ：:").strip()
    return text


def _claim(doc: Document, number: int, block: Block | None = None) -> Claim:
    text = doc.sentences[number - 1].text
    return Claim(text=clip(_unlabelled(text, block) if block else text), cites=[number])


def _held(name: str, sections: list[Section]) -> bool:
    return any(name in section.stocks for section in sections)


def _risk_sentences(doc: Document, numbers: list[int]) -> list[Claim]:
    """Sentences about 风险; a lead-in that only announces them ("最后提一嘴本周的风险。") is
    followed: the sentences after it are the risks."""
    risks: list[Claim] = []
    for index, number in enumerate(numbers):
        text = doc.sentences[number - 1].text
        if _LEAD_IN.search(text):
            risks += [_claim(doc, n) for n in numbers[index + 1 : index + 1 + RISKS]]
        elif "风险" in text:
            risks.append(_claim(doc, number))
    return risks
