"""The grounding gate: a digest may only name stocks and numbers the post contains, and may
not be longer than a digest is (LIMITS).

Both sides are compared after NFKC normalisation (full-width digits and letters become ASCII)
with all whitespace removed, so "中际 旭创" and "７０％" still match the post.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

from digests.summarize.schema import Digest, Event, Section

_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def normalise(text: str) -> str:
    """NFKC, without whitespace: the form in which digest text is looked up in the post."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def numbers_in(text: str) -> set[str]:
    """Every number in a (normalised) text, as written: "70", "1.6", "2026"."""
    return set(_NUMBER.findall(text))


@dataclass(frozen=True)
class Limits:
    """The most of a digest that is kept. The prompt asks for at most 6 sections of 4 points
    of about 60 characters; these leave room for a model that runs a little over and stop one
    that runs away (a 200,000-character headline once became 3,058 Telegram messages)."""

    headline: int = 120
    summary: int = 400
    sections: int = 8
    section_name: int = 30
    points: int = 6  # per section
    point: int = 150
    stocks: int = 12  # per section
    stock: int = 30
    risks: int = 8
    risk: int = 200
    events: int = 12
    event_title: int = 60
    event_when: int = 40


LIMITS = Limits()
_NUMBER_TAIL = re.compile(r"[\d.,%％]+$")


def bound(digest: Digest, limits: Limits = LIMITS) -> tuple[Digest, Counter[str]]:
    """The digest within `limits`, and how many of each field were cut or dropped. Too long a
    headline, summary or section name is cut (never inside a number); too long a point, risk,
    stock or event is dropped whole, since cutting it could change what it says; items past
    the count limits are dropped."""
    over: Counter[str] = Counter()

    def keep(items: list[str], size: int, count: int, field: str) -> list[str]:
        fitting = [item for item in items if len(item) <= size]
        kept = fitting[:count]
        over[field] += len(items) - len(kept)
        return kept

    def cut(text: str, size: int, field: str) -> str:
        if len(text) <= size:
            return text
        over[field] += 1
        return _NUMBER_TAIL.sub("", text[: size - 1].rstrip()) + "…"

    sections = [
        Section(
            name=cut(section.name, limits.section_name, "section_names"),
            points=keep(section.points, limits.point, limits.points, "points"),
            stocks=keep(section.stocks, limits.stock, limits.stocks, "stocks"),
        )
        for section in digest.sections[: limits.sections]
    ]
    over["sections"] += max(len(digest.sections) - limits.sections, 0)
    events = [
        Event(title=e.title, when=e.when)
        for e in digest.events
        if len(e.title) <= limits.event_title and len(e.when) <= limits.event_when
    ]
    over["events"] += len(digest.events) - len(events[: limits.events])
    bounded = Digest(
        headline=cut(digest.headline, limits.headline, "headline"),
        summary=cut(digest.summary, limits.summary, "summary"),
        sections=sections,
        risks=keep(digest.risks, limits.risk, limits.risks, "risks"),
        events=events[: limits.events],
    )
    return bounded, +over  # unary plus drops the zero counts


def ground(digest: Digest, source: str) -> tuple[Digest, dict[str, Any]]:
    """The digest within LIMITS, with ungrounded stocks, points and risks removed, and what
    was removed: the texts dropped for want of grounding, and under `over_limit` how many
    fields were cut or dropped for size.

    `source` is everything the model was shown (title and body)."""
    digest, over = bound(digest)
    haystack = normalise(source)
    known = numbers_in(haystack)
    dropped: dict[str, Any] = {"stocks": [], "points": [], "risks": [], "sections": []}

    def grounded_text(text: str) -> bool:
        return numbers_in(normalise(text)) <= known

    sections: list[Section] = []
    for section in digest.sections:
        stocks = [s for s in section.stocks if normalise(s) and normalise(s) in haystack]
        points = [p for p in section.points if p.strip() and grounded_text(p)]
        dropped["stocks"] += [s for s in section.stocks if s not in stocks]
        dropped["points"] += [p for p in section.points if p.strip() and p not in points]
        if points or stocks:
            sections.append(Section(name=section.name, points=points, stocks=stocks))
        else:
            dropped["sections"].append(section.name)
    risks = [r for r in digest.risks if r.strip() and grounded_text(r)]
    dropped["risks"] = [r for r in digest.risks if r.strip() and r not in risks]
    kept = digest.model_copy(update={"sections": sections, "risks": risks})
    if over:
        dropped["over_limit"] = dict(over)
    return kept, {key: value for key, value in dropped.items() if value}


def needs_review(digest: Digest) -> bool:
    """A digest with no section or no headline is never pushed automatically."""
    return not digest.sections or not digest.headline.strip()
