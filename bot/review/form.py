"""The review page's form → the edited digest. Field names follow the digest's shape:

    count.summary  count.sections  count.section.S.points  count.section.S.stocks
    count.risks  count.events                  (the shape of the digest the page showed)
    headline
    summary.I.text / .cites / .delete          summary.new
    section.S.name / .delete                   section.new
    section.S.point.P.text / .cites / .delete  section.S.point.new
    section.S.stock.K.name  section.S.stock.K  (a section's index: move there; "delete")
    section.S.stocks.new                       (names, 、 or , between)
    risk.I.text / .cites / .delete             risk.new
    event.I.title / .when / .delete            event.new.title / event.new.when
    restore.KIND.I (checked)  restore.KIND.I.to (points and stocks: the section's index)

What cannot be read (a citation that is not numbers) is a problem, never an exception: the
page shows it beside the author's text, nothing lost.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from digests.summarize.grounding import split_names
from digests.summarize.schema import Claim, Digest, Event, Section

RESTORABLE = ("headline", "summary", "points", "stocks", "risks", "events", "sections")
_CITES = re.compile(r"\d{1,5}")


@dataclass
class Edited:
    """What a submitted form says."""

    digest: Digest
    dropped: dict[str, Any]
    restored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read(form: Mapping[str, str], current: Digest, dropped: dict[str, Any]) -> Edited:
    """The digest the form describes (its shape from the form's counts: the page may have
    shown an edit that was refused), with `current`'s codes; the gate's record less what was
    restored, now or in the refused edit."""
    problems: list[str] = []

    def text(name: str) -> str:
        return str(form.get(name, "")).strip()

    def count(name: str) -> int:
        value = text(f"count.{name}")
        return min(int(value), 100) if value.isdigit() else 0

    def claims(prefix: str, number: int) -> list[Claim]:
        kept = []
        for i in range(number):
            if form.get(f"{prefix}.{i}.delete"):
                continue
            cites_text = text(f"{prefix}.{i}.cites")
            if re.sub(r"[\d\s,，、]", "", cites_text):
                problems.append(f"「{text(f'{prefix}.{i}.text')}」的引用要写成句号数字，如 12,13。")
            kept.append(
                Claim(
                    text=text(f"{prefix}.{i}.text"),
                    cites=[int(n) for n in _CITES.findall(cites_text)],
                )
            )
        if text(f"{prefix}.new"):
            kept.append(Claim(text=text(f"{prefix}.new"), cites=[]))
        return kept

    shown = count("sections")
    sections: list[Section | None] = []
    for s in range(shown):
        points = claims(f"section.{s}.point", count(f"section.{s}.points"))
        gone = bool(form.get(f"section.{s}.delete"))
        name = text(f"section.{s}.name")
        sections.append(None if gone else Section(name=name, points=points, stocks=[]))
    if text("section.new"):
        sections.append(Section(name=text("section.new"), points=[], stocks=[]))

    def place(stock: str, target: str) -> None:
        index = int(target) if target.isdigit() else -1
        to = sections[index] if 0 <= index < len(sections) else None
        if to is not None and stock and stock not in to.stocks:
            to.stocks.append(stock)

    for s in range(shown):
        for k in range(count(f"section.{s}.stocks")):
            target = text(f"section.{s}.stock.{k}") or str(s)
            if target != "delete":
                place(text(f"section.{s}.stock.{k}.name"), target)
        for name in split_names(text(f"section.{s}.stocks.new")):
            place(name, str(s))
    events = [
        Event(title=text(f"event.{i}.title"), when=text(f"event.{i}.when"))
        for i in range(count("events"))
        if not form.get(f"event.{i}.delete")
    ]
    if text("event.new.title") or text("event.new.when"):
        events.append(Event(title=text("event.new.title"), when=text("event.new.when")))
    digest = Digest(
        headline=text("headline"),
        summary=claims("summary", count("summary")),
        sections=[s for s in sections if s is not None],
        risks=claims("risk", count("risks")),
        events=events,
        codes=current.codes,
    )
    live = [s for s in sections if s is not None]
    kept, restored = _restore(form, digest, live, sections, dropped)
    return Edited(digest, kept, restored, problems)


def said(item: Any) -> str:
    """A dropped item's text (the headline's record is the bare string)."""
    return item if isinstance(item, str) else str(item.get("text", ""))


def present(digest: Digest) -> set[str]:
    """Every line of the digest as the gate's record writes it: a dropped item in this set
    was restored already."""
    lines = {
        digest.headline,
        *(c.text for c in digest.claims()),
        *(s.name for s in digest.sections),
    }
    lines |= {stock for s in digest.sections for stock in s.stocks}
    return lines | {f"{e.title} {e.when}" for e in digest.events}


def _restore(
    form: Mapping[str, str],
    digest: Digest,
    live: list[Section],
    indexed: list[Section | None],
    dropped: dict[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """Put back each dropped item the form ticks (into `digest`, in place); the gate's record
    without them, and a line each."""
    kept = copy.deepcopy(dropped)
    restored: list[str] = []
    there = present(digest)
    for kind in RESTORABLE:
        items = dropped.get(kind) or []
        back = {i for i in range(len(items)) if form.get(f"restore.{kind}.{i}")}
        for i in sorted(back):
            text = said(items[i])
            target = str(form.get(f"restore.{kind}.{i}.to", "0"))
            index = int(target) if target.isdigit() else 0
            to = indexed[index] if index < len(indexed) else None
            to = to or (live[0] if live else None)
            if kind == "headline":
                digest.headline = text
            elif kind == "summary":
                digest.summary.append(Claim(text=text))
            elif kind == "risks":
                digest.risks.append(Claim(text=text))
            elif kind == "events":
                title, _, when = text.rpartition(" ")
                digest.events.append(Event(title=title or text, when=when))
            elif kind == "sections":
                digest.sections.append(Section(name=text, points=[], stocks=[]))
            elif to is not None and kind == "points":
                to.points.append(Claim(text=text))
            elif to is not None and kind == "stocks" and text not in to.stocks:
                to.stocks.append(text)
            else:
                back.discard(i)
                continue
            restored.append(text)
        # restored now, or in the refused edit the page showed again
        kept[kind] = [x for i, x in enumerate(items) if i not in back and said(x) not in there]
        if not kept[kind]:
            kept.pop(kind, None)
    return kept, restored
