"""Dated events in a post: a happening (calendar.dates.HAPPENING: 非农, CPI, FOMC, 财报, 休市…)
and the day the post gives it in the same clause (calendar.dates.DAY_WORDS, the calendar's own
date words, with a time after them: "周五 21:30"), in the post's words.

The offline digest takes the post's events from here; the grounding gate keeps a model's event
only when the post dates it so (dated()), and adds the post's events the model missed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from digests.calendar.dates import DAY_WORDS, HAPPENING
from digests.summarize.document import Document
from digests.summarize.schema import Event

NEAR = 12  # characters between the happening and its day, within one clause
# the calendar's days, and the parts of a month it cannot place but a post dates things by
DAYS = re.compile(rf"{DAY_WORDS.pattern}|\d{{1,2}}月(?:上旬|中旬|下旬|底|初)")
_UNIT = re.compile(r"[，,。；;！!？?\n]")  # a clause; "美国CPI：下周三公布" stays one
_CLOSURE = re.compile(r"休市|闭市|放假|假期")
# the same closure in other words: 春节休市 is "交易到周五就放假了"
_SAME = {t: "休市|闭市|放假|假期|节前|节后" for t in ("休市", "闭市", "放假", "假期", "春节")}
_GENERIC = re.compile(r"^(?:发布|公布|出炉|生效|开幕|闭幕|大会|会议|上市)$")
_SUFFIX = re.compile(r"^(?:数据|会议|纪要|报告|决议|开幕|闭幕|发布会|听证会|讲话)")
_FILLER = re.compile(
    r"[的是在和与及跟就也都还要会将把被对从给让：:（(]|关注|注意|留意|重点|提一嘴|最后|还有|以及|其中|看"
)


def dated_events(doc: Document) -> list[Event]:
    """The post's dated happenings, once each, in reading order."""
    events: list[Event] = []
    seen: list[tuple[set[str], str]] = []
    for sentence in doc.sentences:
        for unit in _UNIT.split(unicodedata.normalize("NFKC", sentence.text)):
            for event in _in_unit(re.sub(r"\s+", "", unit)):
                terms, day = happenings(event.title), day_of(event.when)
                if not any(d == day and t & terms for t, d in seen):  # 两会 本周四, 两会开幕 周四
                    seen.append((terms, day))
                    events.append(event)
    return events


def _in_unit(unit: str) -> list[Event]:
    """Each happening of a clause with the day nearest to it (within NEAR characters)."""
    found: list[Event] = []
    days = [d for d in DAYS.finditer(unit) if not _aside(unit, d)]
    if not days:
        return found
    terms = [m for m in HAPPENING.finditer(unit) if not _inside(m, days)]
    specific = [t for t in terms if not _GENERIC.match(t.group())]
    for term in specific or terms:
        day = min(days, key=lambda d: _gap(term, d))
        if _gap(term, day) <= NEAR:
            event = Event(title=_title(unit, term, day), when=day.group().strip())
            if not any(happenings(e.title) & happenings(event.title) for e in found):
                found.append(event)
    return found


def _aside(unit: str, day: re.Match[str]) -> bool:
    """A day in brackets after a name ("两会（今天）") is an aside, not the event's date."""
    return unit[max(day.start() - 1, 0) : day.start()] in ("（", "(")


def _inside(term: re.Match[str], days: list[re.Match[str]]) -> bool:
    return any(d.start() <= term.start() < d.end() for d in days)


def _gap(term: re.Match[str], day: re.Match[str]) -> int:
    return max(day.start() - term.end(), term.start() - day.end(), 0)


def _title(unit: str, term: re.Match[str], day: re.Match[str]) -> str:
    """The happening's words: the term with the name before it (美国2月非农数据) and the noun
    after it, without the day; every closure is 休市."""
    if _CLOSURE.fullmatch(term.group()):
        return "休市"
    left = unit[: term.start()]
    if day.end() <= term.start():
        left = unit[day.end() : term.start()]
    pieces = _FILLER.split(left)
    lead = pieces[-1].strip()[-12:] if pieces else ""
    suffix = _SUFFIX.match(unit[term.end() :])
    title = lead + term.group() + (suffix.group() if suffix else "")
    return title.strip(" |｜-—·:：")


def dated(source: str, title: str, when: str, headings: Iterable[str] = ()) -> str | None:
    """The event's `when` in the post's words, or None when the post gives no such day next
    to the happening the title names (or the title is a heading, not a happening)."""
    core, wanted = _core(title), _core(when)
    if not core or not wanted or core in {_core(h) for h in headings}:
        return None
    terms = happenings(title)
    if not terms:
        return None
    pattern = re.compile("|".join(sorted({_SAME.get(t, re.escape(t)) for t in terms})), re.I)
    for unit in _UNIT.split(unicodedata.normalize("NFKC", source)):
        unit = re.sub(r"\s+", "", unit)
        terms = list(pattern.finditer(unit))
        if not terms:
            continue
        for day in DAYS.finditer(unit):
            said = _core(day.group()).removeprefix("本").removeprefix("这")
            bare = wanted.removeprefix("本").removeprefix("这")
            same = said.startswith(bare) or bare.startswith(said)  # 周五晚 is 周五; 下周五 not
            if same and min(_gap(t, day) for t in terms) <= NEAR:
                return when.strip()
    return None


def day_of(when: str) -> str:
    """The day a `when` names, without 本/这 and the time of day: 本周五晚 is 周五."""
    found = DAYS.match(_core(when))
    day = _core(when) if found is None else found.group()
    return re.sub(r"^[本这]|(?:晚上?|早上?|凌晨|上午|下午|盘前|盘后|\d+[:点].*)$", "", day)


def happenings(title: str) -> set[str]:
    """The dated-happening words an event title holds ("美国非农" → {"非农"})."""
    return {m.group().lower() for m in HAPPENING.finditer(unicodedata.normalize("NFKC", title))}


def _core(text: str) -> str:
    """Letters and digits only, lower case: a title compared with headings, days compared."""
    return re.sub(r"[^\w]|_", "", unicodedata.normalize("NFKC", text)).lower()
