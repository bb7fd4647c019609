"""The grounding gate: a digest may only say what the post says, and may not be longer than a
digest is (LIMITS).

- a claim (summary sentence, point, risk) holds against the sentences it cites, or those found
  for it (claims.Evidence: coverage, names, numbers, dates, attribution, direction, roles);
  the citation that held is stored, with the text of each cited sentence (`sources`);
- a stock is one the post names (stocks.Stocks: the securities dictionary's entries, and names
  the post lists); its code goes in `codes`;
- a headline sums up the post: each clause holds, else the post's title stands in for it;
- an event's date stands next to the happening it names, in the post's words;
- the post's own structure completes the digest: a section named like one of the post's gets
  the stocks the post names there, a section of the post with listed stocks that the digest
  left out becomes a section of its own (beside sections that held, never in place of them),
  and the post's dated macro events the model missed are added.
What is dropped is recorded with the reason; what was added, under `added`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

from digests.summarize.claims import Evidence
from digests.summarize.completion import Completion, left_out, post_lists
from digests.summarize.document import Document
from digests.summarize.events import dated, dated_events, day_of, happenings
from digests.summarize.schema import Claim, Digest, Event, Section
from digests.summarize.stocks import Named, Stocks, finder

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, without whitespace: the form in which digest text is looked up in the post."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text))


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

    def keep(items: list[Any], size: int, count: int, field: str) -> list[Any]:
        fitting = [item for item in items if len(str(item)) <= size]
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
    summary, room = [], limits.summary
    for claim in digest.summary:  # whole sentences, as many as fit
        room -= len(claim.text)
        if room < 0:
            over["summary"] += 1
            continue
        summary.append(claim)
    bounded = Digest(
        headline=cut(digest.headline, limits.headline, "headline"),
        summary=summary,
        sections=sections,
        risks=keep(digest.risks, limits.risk, limits.risks, "risks"),
        events=events[: limits.events],
    )
    return bounded, +over  # unary plus drops the zero counts


_LIST = re.compile(r"[、，,;；/]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")


def split_names(entry: str) -> list[str]:
    """A stock entry as the names it lists: "兆易创新、北京君正" is two names."""
    return [name.strip() for name in _LIST.split(entry) if name.strip()]


def ground(
    digest: Digest, *, title: str, text: str, markdown: str = "", names: Any
) -> tuple[Digest, dict[str, Any]]:
    """The digest within LIMITS with what the post does not say removed (see the module
    docstring), and a record: what was dropped and why (under stocks, points, risks,
    sections, events, headline, summary), what was cut for size (`over_limit`), and what the
    post's own structure added (`added`: stocks, sections, events). `names` is the
    securities dictionary (digests.names)."""
    digest, over = bound(digest)
    doc = Document(title, markdown or text)
    stocks = Stocks(doc, names)
    evidence = Evidence(doc, finder(names, stocks))
    dropped: dict[str, Any] = {key: [] for key in (*_DROPPED, "added_stocks")}
    codes: dict[str, str] = {}

    def held(claims: list[Claim], field: str) -> list[Claim]:
        kept: list[Claim] = []
        for claim in claims:
            if not claim.text.strip():
                continue
            summary = field == "summary"  # sums up: from far apart, the title too
            verdict = evidence.check(claim.text, claim.cites, title=summary, spread=summary)
            if verdict.holds:
                kept.append(Claim(text=_unmarked(claim.text), cites=list(verdict.cites)))
            else:
                dropped[field].append({"text": claim.text, "why": verdict.reason})
        return kept

    def named(entries: list[str]) -> list[Named]:
        found: list[Named] = []
        for name in dict.fromkeys(n for entry in entries for n in split_names(entry)):
            stock = stocks.resolve(name)
            if stock is None:
                dropped["stocks"].append({"text": name, "why": "not a stock the post names"})
            elif stock not in found:
                found.append(stock)
        return found

    kept_sections: list[Section] = []
    kept_stocks: list[list[Named]] = []
    for section in digest.sections:
        stocks_here = named(section.stocks)
        points = held(section.points, "points")
        if points or stocks_here:
            kept_sections.append(Section(name=section.name, points=points, stocks=[]))
            kept_stocks.append(stocks_here)
        else:
            dropped["sections"].append({"text": section.name, "why": "nothing in it held"})
    lists = post_lists(doc, stocks)
    completion = Completion(kept_sections, kept_stocks, LIMITS.stocks, dropped["added_stocks"])
    completion.fill(lists, stocks)
    taken = [n for kept in kept_stocks for n in kept]
    own = left_out(doc, lists, stocks, taken, LIMITS.stocks) if kept_sections else []
    sections = [
        Section(name=s.name, points=s.points, stocks=[n.name for n in kept])
        for s, kept in zip(kept_sections, kept_stocks, strict=True)
    ]
    for name, points, more in own[: max(LIMITS.sections - len(sections), 0)]:
        sections.append(Section(name=name, points=points, stocks=[n.name for n in more]))
        taken += more
        dropped["added_stocks"] += [n.name for n in more]
    for stock in taken:
        if stock.code:
            codes[stock.name] = stock.code
    headline = digest.headline
    if (
        headline.strip()
        and headline != title
        and not all(evidence.check(part, title=True).holds for part in _clauses(headline))
    ):
        dropped["headline"], headline = [headline], title
    summary = held(digest.summary, "summary")
    events, more_events = _events(digest.events, doc, dropped)
    kept_digest = Digest(
        headline=headline,
        summary=summary,
        sections=sections,
        risks=held(digest.risks, "risks"),
        events=events,
        codes=codes,
    )
    cited = sorted({n for claim in kept_digest.claims() for n in claim.cites})
    kept_digest.sources = {str(n): doc.sentences[n - 1].text for n in cited}
    return kept_digest, _record(dropped, over, own, more_events)


_DROPPED = ("stocks", "points", "risks", "sections", "events", "headline", "summary")


def _record(
    dropped: dict[str, Any], over: Counter[str], own: list[Any], more_events: list[Event]
) -> dict[str, Any]:
    added_stocks = dropped.pop("added_stocks", [])
    record = {key: value for key, value in dropped.items() if value}
    if over:
        record["over_limit"] = dict(over)
    extra = {
        "stocks": added_stocks,
        "sections": [name for name, *_ in own],
        "events": [f"{e.title} {e.when}" for e in more_events],
    }
    if any(extra.values()):
        record["added"] = {key: value for key, value in extra.items() if value}
    return record


def _unmarked(text: str) -> str:
    """The claim without the "[12]" marks a model may have written into it."""
    return re.sub(r"\s*\[\d{1,4}\]", "", text).strip()


def _clauses(text: str) -> list[str]:
    return [c for c in re.split(r"[，,；;：:！!。]", text) if c.strip()]


def _events(
    proposed: list[Event], doc: Document, dropped: dict[str, Any]
) -> tuple[list[Event], list[Event]]:
    """The model's events whose date the post gives next to them, then the post's own dated
    macro events the model missed."""
    events: list[Event] = []
    for event in proposed:
        when = dated(doc, event.title, event.when)
        if when is None:
            dropped["events"].append(
                {
                    "text": f"{event.title} {event.when.strip()}",
                    "why": "the post does not date it so",
                }
            )
        else:
            events.append(Event(title=event.title, when=when))
    found = dated_events(doc)
    more = [e for e in found if not any(_same_event(e, kept) for kept in events)]
    more = more[: max(LIMITS.events - len(events), 0)]
    return events + more, more


def _same_event(one: Event, other: Event) -> bool:
    """Two events on the same day about the same happening ("非农 周五晚" and "美国非农数据
    本周五")."""
    same_day = day_of(one.when) == day_of(other.when)
    return same_day and bool(happenings(one.title) & happenings(other.title))


def wrong_language(digest: Digest, source: str = "") -> bool:
    """A digest of a Chinese post (any post, when `source` is not given) whose own text is
    mostly not Chinese: an English answer to a Chinese prompt. Latin letters count a third of
    a Chinese character each, about a word's worth, so "CPO+OCS 是新一代交换机趋势" is Chinese."""
    if source and _chinese_share(source) < 0.5:
        return False
    texts = [digest.headline, *(claim.text for claim in digest.claims())]
    texts += [e.when for e in digest.events]
    share = _chinese_share(" ".join(texts))
    return share < 0.5


def _chinese_share(text: str) -> float:
    chinese = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    latin = sum(ch.isascii() and ch.isalpha() for ch in text)
    return chinese / (chinese + latin / 3) if chinese or latin else 1.0


def needs_review(digest: Digest, source: str = "") -> bool:
    """A digest with no section or no headline, or in the wrong language for its `source`
    (see wrong_language), is never pushed automatically."""
    return not digest.sections or not digest.headline.strip() or wrong_language(digest, source)
