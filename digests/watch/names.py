"""What a digest names, and how a reader's name is matched against it.

A digest names stocks (`sections[].stocks`) and sectors (the section names). A reader's name
and a digest's are compared by `key`: NFKC (full-width Ｂ and half-width B, ① and 1 alike), no
surrounding or inner spaces, and casefolded, which changes only cased scripts (Latin): 天孚通信
stays itself, HBM, hbm and ｈｂｍ are one name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from digests.summarize.schema import Digest

MAX_NAME = 40  # characters: longer is a sentence, not a name
MAX_POINTS = 6  # points quoted per name in an alert or a timeline entry


def key(name: str) -> str:
    """The form names are compared in (see the module docstring)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name)).casefold()


def clean(name: str) -> str:
    """A typed name as shown back: NFKC, spaces collapsed, brackets and quotes around it gone."""
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", name)).strip()
    return text.strip("「」『』《》\"'“”‘’[]【】()（）").strip()


@dataclass
class NamedInDigest:
    """One name a digest holds: its spelling there, the sections it appears in, and the points
    that speak of it."""

    name: str
    sections: list[str] = field(default_factory=list)
    points: list[str] = field(default_factory=list)


def named(digest: Digest) -> dict[str, NamedInDigest]:
    """Every stock and section name of a digest, by key, in the digest's order. A stock's
    points are its sections' points that mention it, else (named only in the list) its
    sections' points; a section's points are its own."""
    found: dict[str, NamedInDigest] = {}
    for section in digest.sections:
        said = [point.text for point in section.points]
        entries = [(section.name, said)]
        for stock in section.stocks:
            mention = [p for p in said if key(stock) in key(p)]
            entries.append((stock, mention or said))
        for name, points in entries:
            if not key(name):
                continue
            entry = found.setdefault(key(name), NamedInDigest(name))
            if section.name not in entry.sections:
                entry.sections.append(section.name)
            entry.points += [p for p in points if p not in entry.points]
    return found


def keys_in(data: Any) -> set[str]:
    """The keys of a digest's names, from its JSON as stored (the migration indexes old rows
    with it; anything not shaped like a digest names nothing)."""
    found: set[str] = set()
    sections = data.get("sections") if isinstance(data, dict) else None
    for section in sections if isinstance(sections, list) else []:
        if not isinstance(section, dict):
            continue
        for name in [section.get("name") or "", *(section.get("stocks") or [])]:
            found.add(key(str(name)))
    found.discard("")
    return found


def matched(digest: Digest, keys: set[str]) -> list[NamedInDigest]:
    """The digest's names among `keys`, in the digest's order."""
    return [entry for k, entry in named(digest).items() if k in keys]


def points_of(entries: list[NamedInDigest], limit: int = MAX_POINTS) -> list[str]:
    """The points that mention any of these names, each once, at most `limit`."""
    seen: list[str] = []
    for entry in entries:
        seen += [p for p in entry.points if p not in seen]
    return seen[:limit]


def star_line(entries: list[NamedInDigest]) -> str:
    """⭐ 你关注的：天孚通信、液冷 (empty when nothing is watched)."""
    return "⭐ 你关注的：" + "、".join(e.name for e in entries) if entries else ""
