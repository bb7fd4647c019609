"""The grounding gate: a digest may only say what the post says (the tests are in evidence.py),
and may not be longer than a digest is (LIMITS).

Both sides are compared after NFKC normalisation (full-width digits and letters become ASCII)
with all whitespace removed, so "中际 旭创" and "７０％" still match the post.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

from digests.summarize.evidence import Post, dated, happenings, patron_prefixed
from digests.summarize.extractive import clip, dated_events, listed_stocks
from digests.summarize.schema import Digest, Event, Section

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


_LIST = re.compile(r"[、，,;；/]+|(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")


def split_names(entry: str) -> list[str]:
    """A stock entry as the names it lists: "兆易创新、北京君正" is two names."""
    return [name.strip() for name in _LIST.split(entry) if name.strip()]


def ground(
    digest: Digest, *, title: str, text: str, markdown: str = ""
) -> tuple[Digest, dict[str, Any]]:
    """The digest within LIMITS with what the post does not say removed, and a record: the
    texts dropped (under stocks, points, risks, sections, events, headline, summary), what was
    cut for size (`over_limit`), and what the post's own structure added (`added`: stocks,
    sections, events).

    - a stock is a whole name in the post, never a platform's supplier ("阿里数据港");
    - a point or risk has a supporting passage holding its names, Latin words and numbers; a
      headline or summary sentence may sum up several (clause by clause); a headline that fails
      becomes the post's title, a summary keeps its supported sentences;
    - an event's date stands next to the happening it names, in the post's words;
    - a section named like one of the post's (`markdown`) gets the stocks listed there; a list
      no section is named after goes whole to the first section that speaks of it, else
      becomes a section of its own (beside sections that held, never in place of them);
    - the post's dated macro events (the extractive pass's) that the model missed are added."""
    digest, over = bound(digest)
    post = Post(f"{title}\n{text}")
    listed = listed_stocks(title, markdown) if markdown else {}
    claimed = [name for s in digest.sections for entry in s.stocks for name in split_names(entry)]
    entities = {*claimed, *(name for _, names in listed.values() for name in names)}
    dropped: dict[str, Any] = {key: [] for key in _DROPPED}
    added: list[str] = []

    def supported(claims: list[str], field: str) -> list[str]:
        kept = [c for c in claims if c.strip() and post.supports(c, entities)]
        dropped[field] += [c for c in claims if c.strip() and c not in kept]
        return kept

    def named(names: list[str], where: Post) -> list[str]:
        return [n for n in names if where.names(n) and not patron_prefixed(n)]

    def fresh(label: str, taken: list[str]) -> list[str]:
        where, candidates = listed[label]
        return named([n for n in candidates if n not in taken + claimed + added], Post(where))

    sections: list[Section] = []
    lists, used = _lists_for(digest.sections, listed), set[str]()
    for index, section in enumerate(digest.sections):
        names = list(dict.fromkeys(n for e in section.stocks for n in split_names(e)))
        stocks = named(names, post)
        dropped["stocks"] += [n for n in names if n not in stocks]
        for label, same_name in lists.get(index, []):
            more, room = fresh(label, stocks), max(LIMITS.stocks - len(stocks), 0)
            if same_name or len(more) <= room:  # a list only spoken of goes whole, or not here
                stocks, added, used = stocks + more[:room], added + more[:room], used | {label}
        points = supported(section.points, "points")
        if points or stocks:
            sections.append(Section(name=section.name, points=points, stocks=stocks))
        else:
            dropped["sections"].append(section.name)
    # a list of the post's the model left out is a section of its own: completion helps a
    # digest, it never stands in for one (a digest none of whose sections held stays so)
    own: list[str] = []
    for label in listed if sections else []:
        more = fresh(label, []) if label not in used else []
        if more and len(sections) < LIMITS.sections:
            point = clip(listed[label][0].splitlines()[0])
            sections.append(Section(name=label, points=[point], stocks=more[: LIMITS.stocks]))
            added, own = added + more[: LIMITS.stocks], [*own, label]
    headline = digest.headline
    if headline.strip() and not post.summed_up(headline, entities):
        dropped["headline"], headline = [headline], title
    sentences = re.findall(r"[^。？?]+[。？?]?", digest.summary)  # "！" may end a clause
    summary = [s for s in sentences if not s.strip() or post.summed_up(s, entities)]
    dropped["summary"] = [s.strip() for s in sentences if s not in summary]
    headings = markdown.splitlines() if markdown else text.splitlines()
    events: list[Event] = []
    for event in digest.events:
        when = dated(f"{title}\n{text}", event.title, event.when, headings)
        if when is None:
            dropped["events"].append(f"{event.title} {event.when.strip()}")
        else:
            events.append(Event(title=event.title, when=when))
    # the post's own dated macro events (the offline pass's) that the model missed
    found = dated_events(markdown) if markdown else []
    more_events = [e for e in found if not any(_same_event(e, kept) for kept in events)]
    events += more_events[: max(LIMITS.events - len(events), 0)]
    kept = Digest(
        headline=headline,
        summary="".join(summary).strip(),
        sections=sections,
        risks=supported(digest.risks, "risks"),
        events=events,
    )
    if over:
        dropped["over_limit"] = dict(over)
    extra = {
        "stocks": added,
        "sections": own,
        "events": [f"{e.title} {e.when}" for e in more_events],
    }
    if any(extra.values()):
        dropped["added"] = {key: value for key, value in extra.items() if value}
    return kept, {key: value for key, value in dropped.items() if value}


_DROPPED = ("stocks", "points", "risks", "sections", "events", "headline", "summary")


def _same_event(one: Event, other: Event) -> bool:
    """Two events on the same day about the same happening ("非农" and "美国非农数据")."""
    same_day = normalise(one.when).removeprefix("本") == normalise(other.when).removeprefix("本")
    return same_day and bool(happenings(one.title) & happenings(other.title))


def _lists_for(
    sections: list[Section], listed: dict[str, tuple[str, list[str]]]
) -> dict[int, list[tuple[str, bool]]]:
    """The post's lists (label, named after) each digest section is completed from: the list
    under the same name, or one inside the other ("通信" and "通信/CPO"); a list no section is
    named after goes to the first section that speaks of it ("OCS代表：…" to a section saying
    "OCS也在走独立新高"), so a model that wrote the names into a point loses none of them."""
    found: dict[int, list[tuple[str, bool]]] = {}
    named: set[str] = set()
    for index, section in enumerate(sections):
        mine = normalise(section.name)
        for label in listed:
            other = normalise(label)
            if mine == other or (
                min(len(mine), len(other)) >= 2 and (mine in other or other in mine)
            ):
                found.setdefault(index, []).append((label, True))
                named.add(label)
                break
    said = [normalise(" ".join([s.name, *s.points])).casefold() for s in sections]
    for label in listed:
        other = normalise(label).casefold()
        if label in named or len(other) < 2:
            continue
        speaker = next((i for i, text in enumerate(said) if other in text), None)
        if speaker is not None:
            found.setdefault(speaker, []).append((label, False))
    return found


def wrong_language(digest: Digest, source: str = "") -> bool:
    """A digest of a Chinese post (any post, when `source` is not given) whose own text is
    mostly not Chinese: an English answer to a Chinese prompt. Latin letters count a third of
    a Chinese character each, about a word's worth, so "CPO+OCS 是新一代交换机趋势" is Chinese."""
    if source and _chinese_share(source) < 0.5:
        return False
    texts = [digest.headline, digest.summary, *digest.risks]
    texts += [p for s in digest.sections for p in s.points] + [e.when for e in digest.events]
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
