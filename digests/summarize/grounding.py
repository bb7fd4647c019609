"""The grounding gate: a digest may only name stocks and numbers the post contains.

Both sides are compared after NFKC normalisation (full-width digits and letters become ASCII)
with all whitespace removed, so "中际 旭创" and "７０％" still match the post.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from digests.summarize.schema import Digest, Section

_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def normalise(text: str) -> str:
    """NFKC, without whitespace: the form in which digest text is looked up in the post."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


def numbers_in(text: str) -> set[str]:
    """Every number in a (normalised) text, as written: "70", "1.6", "2026"."""
    return set(_NUMBER.findall(text))


def ground(digest: Digest, source: str) -> tuple[Digest, dict[str, Any]]:
    """The digest with ungrounded stocks, points and risks removed, and what was removed.

    `source` is everything the model was shown (title and body)."""
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
    return kept, {key: value for key, value in dropped.items() if value}


def needs_review(digest: Digest) -> bool:
    """A digest with no section or no headline is never pushed automatically."""
    return not digest.sections or not digest.headline.strip()
